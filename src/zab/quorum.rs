//! Who makes a quorum: ZooKeeper's `QuorumMaj` (a strict majority of the
//! voting members) and `QuorumHierarchical` (a majority of weight in a
//! majority of groups). Observers are never voters and never count.
//!
//! Pure and allocation-free on the hot path: a quorum question is asked with a
//! predicate ("has this voter acked?") instead of a set.

use crate::types::ServerId;

/// `group.G` lines and `weight.N` lines: hierarchical quorums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups {
    /// Each group's members (every voter is in exactly one group).
    groups: Vec<Vec<ServerId>>,
    /// Weight per voter (1 unless a `weight.N` line says otherwise).
    weights: Vec<(ServerId, u64)>,
}

/// Decides whether a set of voters is a quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVerifier {
    /// Voting members, sorted, without duplicates.
    voters: Vec<ServerId>,
    groups: Option<Groups>,
}

/// A quorum configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// No voting member at all.
    #[error("the ensemble has no voting member")]
    NoVoters,
    /// A hierarchical group names a server that is not a voter, or a voter is in no group.
    #[error("server {0} is in no group, or a group names a server that is not a voter")]
    BadGroup(ServerId),
    /// A server is in two groups.
    #[error("server {0} is in more than one group")]
    TwoGroups(ServerId),
}

impl QuorumVerifier {
    /// ZooKeeper's `QuorumMaj` over these voters: a set is a quorum when it
    /// holds more than half of them.
    pub fn majority(
        voters: impl IntoIterator<Item = ServerId>,
    ) -> Result<QuorumVerifier, QuorumError> {
        let mut voters: Vec<ServerId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        if voters.is_empty() {
            return Err(QuorumError::NoVoters);
        }
        Ok(QuorumVerifier {
            voters,
            groups: None,
        })
    }

    /// ZooKeeper's `QuorumHierarchical`: a set is a quorum when, in more than
    /// half of the groups of non-zero weight, its members hold more than half of
    /// the group's weight. `weights` lists exceptions to the default weight 1.
    pub fn hierarchical(
        groups: &[(u64, Vec<ServerId>)],
        weights: &[(ServerId, u64)],
    ) -> Result<QuorumVerifier, QuorumError> {
        let mut voters: Vec<ServerId> = Vec::new();
        for (_, members) in groups {
            for &id in members {
                if voters.contains(&id) {
                    return Err(QuorumError::TwoGroups(id));
                }
                voters.push(id);
            }
        }
        let mut majority = QuorumVerifier::majority(voters)?;
        if let Some((id, _)) = weights.iter().find(|(id, _)| !majority.is_voter(*id)) {
            return Err(QuorumError::BadGroup(*id));
        }
        let weights = majority
            .voters
            .iter()
            .map(|&id| {
                let weight = weights
                    .iter()
                    .find(|(w, _)| *w == id)
                    .map_or(1, |(_, w)| *w);
                (id, weight)
            })
            .collect();
        majority.groups = Some(Groups {
            groups: groups.iter().map(|(_, members)| members.clone()).collect(),
            weights,
        });
        Ok(majority)
    }

    /// The voting members, sorted.
    pub fn voters(&self) -> &[ServerId] {
        &self.voters
    }

    /// Whether `id` votes (participants do; observers and strangers do not).
    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// Whether the voters for which `acked` holds form a quorum. Non-voters are
    /// never asked about.
    pub fn is_quorum(&self, acked: impl Fn(ServerId) -> bool) -> bool {
        match &self.groups {
            None => {
                let count = self.voters.iter().filter(|&&id| acked(id)).count();
                count > self.voters.len() / 2
            }
            Some(groups) => groups.is_quorum(acked),
        }
    }

    /// The smallest number of voters that can be a quorum (majority only; for
    /// hierarchical quorums, a lower bound).
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}

impl Groups {
    fn weight(&self, id: ServerId) -> u64 {
        self.weights
            .iter()
            .find(|(w, _)| *w == id)
            .map_or(0, |(_, weight)| *weight)
    }

    fn is_quorum(&self, acked: impl Fn(ServerId) -> bool) -> bool {
        let mut groups_nonzero = 0usize;
        let mut groups_won = 0usize;
        for members in &self.groups {
            let total: u64 = members.iter().map(|&id| self.weight(id)).sum();
            if total == 0 {
                continue;
            }
            groups_nonzero += 1;
            let got: u64 = members
                .iter()
                .filter(|&&id| acked(id))
                .map(|&id| self.weight(id))
                .sum();
            if got > total / 2 {
                groups_won += 1;
            }
        }
        groups_won > groups_nonzero / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(set: &[ServerId]) -> impl Fn(ServerId) -> bool + '_ {
        move |id| set.contains(&id)
    }

    #[test]
    fn majority_needs_more_than_half() {
        let q = QuorumVerifier::majority([1, 2, 3]).unwrap();
        assert!(!q.is_quorum(of(&[])));
        assert!(!q.is_quorum(of(&[1])));
        assert!(q.is_quorum(of(&[1, 2])));
        assert!(q.is_quorum(of(&[2, 3])));
        assert!(q.is_quorum(of(&[1, 2, 3])));
        let q = QuorumVerifier::majority([1, 2, 3, 4]).unwrap();
        assert!(
            !q.is_quorum(of(&[1, 2])),
            "half of an even ensemble is not a quorum"
        );
        assert!(q.is_quorum(of(&[1, 2, 4])));
        assert_eq!(q.quorum_size(), 3);
        let q = QuorumVerifier::majority([7]).unwrap();
        assert!(q.is_quorum(of(&[7])));
        assert!(!q.is_quorum(of(&[8])));
    }

    #[test]
    fn non_voters_never_count() {
        let q = QuorumVerifier::majority([1, 2, 3, 4, 5]).unwrap();
        assert!(
            !q.is_quorum(of(&[1, 2, 6, 7, 8, 9])),
            "observers 6..9 do not count"
        );
        assert!(!q.is_voter(6));
        assert!(q.is_voter(5));
        assert_eq!(
            QuorumVerifier::majority([]).unwrap_err(),
            QuorumError::NoVoters
        );
    }

    #[test]
    fn majority_dedups_voters() {
        let q = QuorumVerifier::majority([3, 1, 3, 2]).unwrap();
        assert_eq!(q.voters(), &[1, 2, 3]);
    }

    #[test]
    fn hierarchical_needs_a_majority_of_groups() {
        // Three groups of three; a quorum is two of three in two of three groups.
        let groups = vec![(1, vec![1, 2, 3]), (2, vec![4, 5, 6]), (3, vec![7, 8, 9])];
        let q = QuorumVerifier::hierarchical(&groups, &[]).unwrap();
        assert!(q.is_quorum(of(&[1, 2, 4, 5])));
        assert!(
            !q.is_quorum(of(&[1, 2, 3, 4])),
            "one group won is not enough"
        );
        assert!(!q.is_quorum(of(&[1, 4, 7])), "no group has a majority");
        assert_eq!(q.voters().len(), 9);
    }

    #[test]
    fn hierarchical_weights_and_zero_weight_groups() {
        let groups = vec![(1, vec![1, 2]), (2, vec![3]), (3, vec![4])];
        // Server 1 weighs 3, server 2 weighs 1: server 1 alone wins group 1.
        // Group 3 has zero weight and is left out of the count.
        let q = QuorumVerifier::hierarchical(&groups, &[(1, 3), (4, 0)]).unwrap();
        assert!(q.is_quorum(of(&[1, 3])));
        assert!(!q.is_quorum(of(&[2, 3])));
        assert!(!q.is_quorum(of(&[1, 4])), "group 3 weighs nothing");
        assert_eq!(
            QuorumVerifier::hierarchical(&[(1, vec![1]), (2, vec![1])], &[]).unwrap_err(),
            QuorumError::TwoGroups(1)
        );
        assert_eq!(
            QuorumVerifier::hierarchical(&[(1, vec![1])], &[(9, 2)]).unwrap_err(),
            QuorumError::BadGroup(9)
        );
    }
}
