//! Links between ensemble members: one TCP connection per pair of members on
//! one port (the election port or the quorum port), carrying length-prefixed
//! frames whose contents this module never looks at.
//!
//! As in ZooKeeper's `QuorumCnxManager`, the member with the larger id dials and
//! the smaller one accepts, so each pair has exactly one link. A link opens
//! with a small handshake (magic, both ids) so that a stray or hostile client on
//! the port, or a member configured with another id, is refused with a logged
//! reason before it can send anything. Every established link gets a fresh
//! number; [`PeerEvent`]s carry it, so the protocol core can tell frames of a
//! dead link from those of its replacement.
//!
//! Runs on the sequencer core. Frames to a member without a link are dropped
//! (ZAB re-synchronizes a member whose link broke); frames to a member whose
//! link is backlogged past [`OUTBOX_MAX_BYTES`] close that link, because a
//! member that far behind must re-synchronize anyway and the memory is bounded.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::runtime::bell::{bell, Bell, BellWaiter};

/// The first bytes of every link, both ways.
const MAGIC: [u8; 4] = *b"CKP1";

/// Magic, sender id, receiver id.
const HANDSHAKE_LEN: usize = 4 + 8 + 8;

/// How long a new connection has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Wait between failed dials: doubles from the first to the last.
const DIAL_BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_millis(500));

/// Bytes queued for one member before its link is closed.
pub const OUTBOX_MAX_BYTES: usize = 256 << 20;

/// What happened on the links since the last [`PeerLinks::drain`].
#[derive(Debug)]
pub enum PeerEvent {
    /// A link to `peer` is established.
    Up {
        /// The member.
        peer: u64,
        /// The link's number (unique within this [`PeerLinks`]).
        link: u64,
    },
    /// The link `link` to `peer` is gone.
    Down {
        /// The member.
        peer: u64,
        /// The link's number.
        link: u64,
    },
    /// A frame from `peer` over `link`.
    Frame {
        /// The member.
        peer: u64,
        /// The link's number.
        link: u64,
        /// The frame's payload (without its length prefix).
        payload: Bytes,
    },
}

/// Where and who: one other member.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    /// Its server id.
    pub id: u64,
    /// Host and port as configured (resolved at each dial).
    pub host: String,
    /// The port on this link's side (election or quorum).
    pub port: u16,
}

/// The links of this member on one port. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct PeerLinks {
    inner: Rc<RefCell<Links>>,
}

struct Links {
    my_id: u64,
    max_frame: usize,
    peers: HashMap<u64, Slot>,
    events: VecDeque<PeerEvent>,
    events_bell: Bell,
    next_link: u64,
    stopped: bool,
    accepting: Option<glommio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Slot {
    /// The established link: its number, its outbox and the writer's bell.
    link: Option<Link>,
    /// Rings the dialer (only for members we dial) when the link goes down.
    dial_bell: Option<Bell>,
}

struct Link {
    number: u64,
    outbox: BytesMut,
    writer_bell: Bell,
    closing: bool,
}

impl PeerLinks {
    /// Listens on `listen`, dials every member in `peers` whose id is smaller
    /// than `my_id`, and accepts the others. `max_frame` bounds every received
    /// frame. Events are announced on the returned waiter.
    pub fn start(
        my_id: u64,
        listen: SocketAddr,
        peers: &[PeerSpec],
        max_frame: usize,
    ) -> std::io::Result<(PeerLinks, BellWaiter)> {
        let listener = TcpListener::bind(listen)?;
        let (events_bell, events_waiter) = bell();
        let links = PeerLinks {
            inner: Rc::new(RefCell::new(Links {
                my_id,
                max_frame,
                peers: peers.iter().map(|p| (p.id, Slot::default())).collect(),
                events: VecDeque::new(),
                events_bell,
                next_link: 1,
                stopped: false,
                accepting: None,
            })),
        };
        let accepting = glommio::spawn_local(links.clone().accept_loop(listener)).detach();
        links.inner.borrow_mut().accepting = Some(accepting);
        for peer in peers.iter().filter(|p| p.id < my_id) {
            let (dial_bell, dial_waiter) = bell();
            links
                .inner
                .borrow_mut()
                .peers
                .get_mut(&peer.id)
                .expect("slot made above")
                .dial_bell = Some(dial_bell);
            glommio::spawn_local(links.clone().dial_loop(peer.clone(), dial_waiter)).detach();
        }
        Ok((links, events_waiter))
    }

    /// Queues `payload` for `peer`; false if there is no link to it (dropped).
    pub fn send(&self, peer: u64, payload: &[u8]) -> bool {
        self.send_parts(peer, None, &[payload])
    }

    /// Queues one frame made of `parts` for `peer`, only on link `link` if
    /// given; false if that link is gone (dropped).
    pub fn send_parts(&self, peer: u64, link: Option<u64>, parts: &[&[u8]]) -> bool {
        let mut inner = self.inner.borrow_mut();
        let Some(current) = inner.peers.get_mut(&peer).and_then(|s| s.link.as_mut()) else {
            return false;
        };
        if link.is_some_and(|l| l != current.number) {
            return false;
        }
        let link = current;
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if link.closing {
            return false;
        }
        if link.outbox.len() + len + 4 > OUTBOX_MAX_BYTES {
            tracing::warn!(
                peer,
                queued = link.outbox.len(),
                "closing the link to a member that is not reading (it will re-synchronize)"
            );
            link.closing = true;
            link.writer_bell.ring();
            return false;
        }
        link.outbox.put_u32(len as u32);
        for part in parts {
            link.outbox.extend_from_slice(part);
        }
        link.writer_bell.ring();
        true
    }

    /// Closes the link to `peer` (only link `link`, if given; the dialer
    /// side redials).
    pub fn disconnect(&self, peer: u64, link: Option<u64>) {
        let mut inner = self.inner.borrow_mut();
        if let Some(current) = inner.peers.get_mut(&peer).and_then(|s| s.link.as_mut()) {
            if link.is_none_or(|l| l == current.number) {
                current.closing = true;
                current.writer_bell.ring();
            }
        }
    }

    /// Whether a link to `peer` is up.
    pub fn is_up(&self, peer: u64) -> bool {
        let inner = self.inner.borrow();
        inner
            .peers
            .get(&peer)
            .and_then(|s| s.link.as_ref())
            .is_some_and(|l| !l.closing)
    }

    /// Moves every event since the last call into `out`, oldest first.
    pub fn drain(&self, out: &mut Vec<PeerEvent>) {
        out.extend(self.inner.borrow_mut().events.drain(..));
    }

    /// Closes every link and stops dialing and accepting.
    pub fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopped = true;
        if let Some(accepting) = inner.accepting.take() {
            // Drops the listener: a successor may bind the port at once.
            accepting.cancel();
        }
        for slot in inner.peers.values_mut() {
            if let Some(link) = slot.link.as_mut() {
                link.closing = true;
                link.writer_bell.ring();
            }
            if let Some(bell) = &slot.dial_bell {
                bell.ring();
            }
        }
    }

    fn stopped(&self) -> bool {
        self.inner.borrow().stopped
    }

    async fn accept_loop(self, listener: TcpListener) {
        while !self.stopped() {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::warn!(%error, "peer accept failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let links = self.clone();
            glommio::spawn_local(async move {
                let mut stream = stream;
                let from = stream.peer_addr().ok();
                match links.accept_handshake(&mut stream).await {
                    Ok(peer) => links.establish(peer, stream),
                    Err(reason) => {
                        tracing::warn!(?from, %reason, "refusing a peer connection");
                    }
                }
            })
            .detach();
        }
    }

    /// Reads the dialer's handshake, checks it, answers with ours.
    async fn accept_handshake(&self, stream: &mut TcpStream) -> Result<u64, String> {
        let mut header = [0u8; HANDSHAKE_LEN];
        let read = read_exact_within(stream, &mut header, HANDSHAKE_TIMEOUT).await;
        read.map_err(|e| format!("handshake: {e}"))?;
        let (from, to) = parse_handshake(&header)?;
        let my_id = self.inner.borrow().my_id;
        if to != my_id {
            return Err(format!("it dialed server {to}, but this is server {my_id}"));
        }
        if !self.inner.borrow().peers.contains_key(&from) {
            return Err(format!("server {from} is not a member of this ensemble"));
        }
        if from < my_id {
            return Err(format!(
                "server {from} dialed server {my_id}; the larger id dials (check both members' myid)"
            ));
        }
        write_handshake(stream, my_id, from)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(from)
    }

    async fn dial_loop(self, peer: PeerSpec, wake: BellWaiter) {
        let mut backoff = DIAL_BACKOFF.0;
        while !self.stopped() {
            if self.has_link(peer.id) {
                // Wait for the link to go down (or for stop).
                if !wake.wait().await {
                    return;
                }
                continue;
            }
            match self.dial(&peer).await {
                Ok(stream) => {
                    backoff = DIAL_BACKOFF.0;
                    self.establish(peer.id, stream);
                }
                Err(reason) => {
                    tracing::debug!(peer = peer.id, host = %peer.host, port = peer.port, %reason, "dial failed");
                    glommio::timer::sleep(backoff).await;
                    backoff = (backoff * 2).min(DIAL_BACKOFF.1);
                }
            }
        }
    }

    fn has_link(&self, peer: u64) -> bool {
        let inner = self.inner.borrow();
        inner.peers.get(&peer).is_some_and(|s| s.link.is_some())
    }

    async fn dial(&self, peer: &PeerSpec) -> Result<TcpStream, String> {
        let addr = (peer.host.as_str(), peer.port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {}: {e}", peer.host))?
            .next()
            .ok_or_else(|| format!("{} resolves to no address", peer.host))?;
        let mut stream = TcpStream::connect_timeout(addr, DIAL_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let my_id = self.inner.borrow().my_id;
        write_handshake(&mut stream, my_id, peer.id)
            .await
            .map_err(|e| e.to_string())?;
        let mut header = [0u8; HANDSHAKE_LEN];
        read_exact_within(&mut stream, &mut header, HANDSHAKE_TIMEOUT)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (from, to) = parse_handshake(&header)?;
        if from != peer.id || to != my_id {
            return Err(format!(
                "{}:{} answered as server {from} (expected {}) for server {to}",
                peer.host, peer.port, peer.id
            ));
        }
        Ok(stream)
    }

    /// Installs `stream` as the link to `peer`, replacing any older link.
    fn establish(&self, peer: u64, stream: TcpStream) {
        if self.stopped() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(None);
        // SAFETY: `dup` of a descriptor we own; the new descriptor is owned by
        // the writer's `TcpStream` alone and closed when it drops.
        let write_fd = unsafe { libc::dup(stream.as_raw_fd()) };
        if write_fd < 0 {
            tracing::warn!(peer, "dup failed: dropping the peer link");
            return;
        }
        // SAFETY: `write_fd` is a fresh, valid socket descriptor owned by nobody else.
        let writer = unsafe { TcpStream::from_raw_fd(write_fd) };
        let (writer_bell, writer_waiter) = bell();
        let number = {
            let mut inner = self.inner.borrow_mut();
            let number = inner.next_link;
            inner.next_link += 1;
            let slot = inner.peers.get_mut(&peer).expect("members only");
            if let Some(old) = slot.link.as_mut() {
                // The member restarted and dialed again: the old link is dead.
                old.closing = true;
                old.writer_bell.ring();
            }
            let old = slot.link.replace(Link {
                number,
                outbox: BytesMut::new(),
                writer_bell,
                closing: false,
            });
            if let Some(old) = old {
                inner.events.push_back(PeerEvent::Down {
                    peer,
                    link: old.number,
                });
            }
            inner.events.push_back(PeerEvent::Up { peer, link: number });
            inner.events_bell.ring();
            number
        };
        tracing::info!(peer, link = number, "peer link up");
        glommio::spawn_local(self.clone().read_loop(peer, number, stream)).detach();
        glommio::spawn_local(self.clone().write_loop(peer, number, writer, writer_waiter)).detach();
    }

    async fn read_loop(self, peer: u64, number: u64, mut stream: TcpStream) {
        let max_frame = self.inner.borrow().max_frame;
        let mut buf = BytesMut::with_capacity(64 << 10);
        let reason = 'read: loop {
            if !self.is_current(peer, number) {
                break "replaced".to_owned();
            }
            if buf.capacity() - buf.len() < 16 << 10 {
                buf.reserve(64 << 10);
            }
            let start = buf.len();
            // SAFETY: the spare capacity is only exposed for `read` to fill, and
            // the length is set to what it reports written.
            let spare = unsafe {
                let cap = buf.capacity();
                buf.set_len(cap);
                &mut buf[start..]
            };
            let read = stream.read(spare).await;
            let n = match read {
                Ok(0) => {
                    buf.truncate(start);
                    break "closed by the peer".to_owned();
                }
                Ok(n) => n,
                Err(error) => {
                    buf.truncate(start);
                    break format!("read failed: {error}");
                }
            };
            buf.truncate(start + n);
            loop {
                if buf.len() < 4 {
                    break;
                }
                let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
                if len > max_frame {
                    break 'read format!("frame of {len} bytes exceeds the limit of {max_frame}");
                }
                if buf.len() < 4 + len {
                    buf.reserve(4 + len - buf.len());
                    break;
                }
                buf.advance(4);
                let payload = buf.split_to(len).freeze();
                let mut inner = self.inner.borrow_mut();
                inner.events.push_back(PeerEvent::Frame {
                    peer,
                    link: number,
                    payload,
                });
                inner.events_bell.ring();
            }
        };
        tracing::info!(peer, link = number, %reason, "peer link down");
        self.close_link(peer, number);
        let _ = stream.shutdown(std::net::Shutdown::Both).await;
    }

    async fn write_loop(self, peer: u64, number: u64, mut stream: TcpStream, wake: BellWaiter) {
        loop {
            let (out, closing) = {
                let mut inner = self.inner.borrow_mut();
                let Some(link) = inner.peers.get_mut(&peer).and_then(|s| s.link.as_mut()) else {
                    break;
                };
                if link.number != number {
                    break;
                }
                (link.outbox.split().freeze(), link.closing)
            };
            if closing {
                break;
            }
            if !out.is_empty() {
                if let Err(error) = stream.write_all(&out).await {
                    tracing::info!(peer, link = number, %error, "peer write failed");
                    break;
                }
                continue;
            }
            if !wake.wait().await {
                break;
            }
        }
        self.close_link(peer, number);
        let _ = stream.shutdown(std::net::Shutdown::Both).await;
    }

    fn is_current(&self, peer: u64, number: u64) -> bool {
        let inner = self.inner.borrow();
        inner
            .peers
            .get(&peer)
            .and_then(|s| s.link.as_ref())
            .is_some_and(|l| l.number == number && !l.closing)
    }

    /// Forgets link `number` if it is still the current one, and says so.
    fn close_link(&self, peer: u64, number: u64) {
        let mut inner = self.inner.borrow_mut();
        let Some(slot) = inner.peers.get_mut(&peer) else {
            return;
        };
        if slot.link.as_ref().is_none_or(|l| l.number != number) {
            return;
        }
        let link = slot.link.take().expect("checked");
        link.writer_bell.ring();
        if let Some(bell) = &slot.dial_bell {
            bell.ring();
        }
        inner
            .events
            .push_back(PeerEvent::Down { peer, link: number });
        inner.events_bell.ring();
    }
}

fn parse_handshake(header: &[u8; HANDSHAKE_LEN]) -> Result<(u64, u64), String> {
    if header[..4] != MAGIC {
        return Err("not a corekeeper peer (bad magic)".to_owned());
    }
    let from = u64::from_be_bytes(header[4..12].try_into().expect("8 bytes"));
    let to = u64::from_be_bytes(header[12..20].try_into().expect("8 bytes"));
    Ok((from, to))
}

async fn write_handshake(stream: &mut TcpStream, from: u64, to: u64) -> std::io::Result<()> {
    let mut header = [0u8; HANDSHAKE_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4..12].copy_from_slice(&from.to_be_bytes());
    header[12..20].copy_from_slice(&to.to_be_bytes());
    stream.write_all(&header).await?;
    stream.flush().await
}

async fn read_exact_within(
    stream: &mut TcpStream,
    buf: &mut [u8],
    timeout: Duration,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.read_exact(buf).await
}
