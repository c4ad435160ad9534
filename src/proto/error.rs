//! `KeeperException.Code`: the values carried in `ReplyHeader.err` and `ErrorResponse.err`.

/// A ZooKeeper error code (`KeeperException.Code`), with ZooKeeper's numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// Everything is OK.
    Ok = 0,
    /// Range marker; never sent by the server.
    SystemError = -1,
    /// A runtime inconsistency; also the code of multi ops after the failing one.
    RuntimeInconsistency = -2,
    /// A data inconsistency was found.
    DataInconsistency = -3,
    /// Connection to the server has been lost (client-local).
    ConnectionLoss = -4,
    /// Error while marshalling or unmarshalling data.
    MarshallingError = -5,
    /// Operation is unimplemented.
    Unimplemented = -6,
    /// Operation timeout (client-local).
    OperationTimeout = -7,
    /// Invalid arguments.
    BadArguments = -8,
    /// Unknown session (internal server use only).
    UnknownSession = -12,
    /// No quorum of new config is connected and up-to-date with the leader.
    NewConfigNoQuorum = -13,
    /// Another reconfiguration is in progress.
    ReconfigInProgress = -14,
    /// Range marker for API errors.
    ApiError = -100,
    /// Node does not exist.
    NoNode = -101,
    /// Not authenticated.
    NoAuth = -102,
    /// Version conflict.
    BadVersion = -103,
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = -108,
    /// The node already exists.
    NodeExists = -110,
    /// The node has children.
    NotEmpty = -111,
    /// The session has been expired by the server.
    SessionExpired = -112,
    /// Invalid callback specified (client-local).
    InvalidCallback = -113,
    /// Invalid ACL specified.
    InvalidAcl = -114,
    /// Client authentication failed.
    AuthFailed = -115,
    /// Session moved to another server, so operation is ignored.
    SessionMoved = -118,
    /// State-changing request is passed to a read-only server.
    NotReadOnly = -119,
    /// Attempt to create an ephemeral node on a local session.
    EphemeralOnLocalSession = -120,
    /// Attempts to remove a non-existing watcher.
    NoWatcher = -121,
    /// Request not completed within max allowed time (client-local).
    RequestTimeout = -122,
    /// Attempts to perform a reconfiguration operation when it is disabled.
    ReconfigDisabled = -123,
    /// The session is closed because it requires SASL authentication.
    SessionClosedRequireSaslAuth = -124,
    /// Exceeded the quota that was set on the path.
    QuotaExceeded = -125,
    /// Operation was throttled and not executed at all.
    ThrottledOp = -127,
}

impl ErrorCode {
    /// Every code ZooKeeper 3.9 defines.
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::Ok,
        ErrorCode::SystemError,
        ErrorCode::RuntimeInconsistency,
        ErrorCode::DataInconsistency,
        ErrorCode::ConnectionLoss,
        ErrorCode::MarshallingError,
        ErrorCode::Unimplemented,
        ErrorCode::OperationTimeout,
        ErrorCode::BadArguments,
        ErrorCode::UnknownSession,
        ErrorCode::NewConfigNoQuorum,
        ErrorCode::ReconfigInProgress,
        ErrorCode::ApiError,
        ErrorCode::NoNode,
        ErrorCode::NoAuth,
        ErrorCode::BadVersion,
        ErrorCode::NoChildrenForEphemerals,
        ErrorCode::NodeExists,
        ErrorCode::NotEmpty,
        ErrorCode::SessionExpired,
        ErrorCode::InvalidCallback,
        ErrorCode::InvalidAcl,
        ErrorCode::AuthFailed,
        ErrorCode::SessionMoved,
        ErrorCode::NotReadOnly,
        ErrorCode::EphemeralOnLocalSession,
        ErrorCode::NoWatcher,
        ErrorCode::RequestTimeout,
        ErrorCode::ReconfigDisabled,
        ErrorCode::SessionClosedRequireSaslAuth,
        ErrorCode::QuotaExceeded,
    ];

    /// The wire value.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The code for a wire value, if ZooKeeper defines it.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        if code == ErrorCode::ThrottledOp as i32 {
            return Some(ErrorCode::ThrottledOp);
        }
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// ZooKeeper's message text for the code (`KeeperException.getCodeMessage`).
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::SystemError => "SystemError",
            ErrorCode::RuntimeInconsistency => "RuntimeInconsistency",
            ErrorCode::DataInconsistency => "DataInconsistency",
            ErrorCode::ConnectionLoss => "ConnectionLoss",
            ErrorCode::MarshallingError => "MarshallingError",
            ErrorCode::Unimplemented => "Unimplemented",
            ErrorCode::OperationTimeout => "OperationTimeout",
            ErrorCode::BadArguments => "BadArguments",
            ErrorCode::UnknownSession => "Unknown session",
            ErrorCode::NewConfigNoQuorum => "New config has no quorum",
            ErrorCode::ReconfigInProgress => "Another reconfiguration is in progress",
            ErrorCode::ApiError => "APIError",
            ErrorCode::NoNode => "NoNode",
            ErrorCode::NoAuth => "NoAuth",
            ErrorCode::BadVersion => "BadVersion",
            ErrorCode::NoChildrenForEphemerals => "NoChildrenForEphemerals",
            ErrorCode::NodeExists => "NodeExists",
            ErrorCode::NotEmpty => "Directory not empty",
            ErrorCode::SessionExpired => "Session expired",
            ErrorCode::InvalidCallback => "Invalid callback",
            ErrorCode::InvalidAcl => "InvalidACL",
            ErrorCode::AuthFailed => "AuthFailed",
            ErrorCode::SessionMoved => "Session moved",
            ErrorCode::NotReadOnly => "Not a read-only call",
            ErrorCode::EphemeralOnLocalSession => "Ephemeral node on local session",
            ErrorCode::NoWatcher => "No such watcher",
            ErrorCode::RequestTimeout => "Request timeout",
            ErrorCode::ReconfigDisabled => "Reconfig is disabled",
            ErrorCode::SessionClosedRequireSaslAuth => {
                "Session closed because client failed to authenticate"
            }
            ErrorCode::QuotaExceeded => "Quota has exceeded",
            ErrorCode::ThrottledOp => "Op throttled due to high load",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
        }
        assert_eq!(ErrorCode::from_code(-127), Some(ErrorCode::ThrottledOp));
        assert_eq!(ErrorCode::from_code(-9), None);
        assert_eq!(ErrorCode::from_code(-126), None);
    }
}
