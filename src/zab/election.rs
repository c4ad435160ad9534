//! Fast leader election (ZooKeeper's `FastLeaderElection.lookForLeader` and its
//! `WorkerReceiver`), one notification at a time.

use std::collections::BTreeMap;

use super::{Notification, Output, ServerState, State, Vote, Zab};
use crate::types::ServerId;

/// A vote as received: what, in which round, from a member in which state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Received {
    vote: Vote,
    election_epoch: u64,
    state: ServerState,
}

impl Received {
    /// ZooKeeper's `Vote.equals`: votes of looking members agree only on the
    /// same round and history; a settled member's vote is its leader and epoch.
    fn agrees(&self, other: &Received) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.vote == other.vote && self.election_epoch == other.election_epoch
        } else {
            self.vote.leader == other.vote.leader && self.vote.peer_epoch == other.vote.peer_epoch
        }
    }
}

/// One round of looking.
#[derive(Debug)]
pub(super) struct Election {
    /// The vote this member sends; `None` for an observer that has adopted none.
    proposal: Option<Vote>,
    /// `recvset`: the votes of this round.
    votes: BTreeMap<ServerId, Received>,
    /// `outofelection`: what settled members said.
    settled: BTreeMap<ServerId, Received>,
    /// Decide on this tick unless a better vote comes first.
    finalize_at: Option<u64>,
    next_notify_at: u64,
    notify_interval: u32,
}

impl Election {
    pub(super) fn idle() -> Election {
        Election {
            proposal: None,
            votes: BTreeMap::new(),
            settled: BTreeMap::new(),
            finalize_at: None,
            next_notify_at: 0,
            notify_interval: 1,
        }
    }
}

impl Zab {
    fn election(&mut self) -> &mut Election {
        match &mut self.state {
            State::Looking(election) => election,
            _ => unreachable!("only while looking"),
        }
    }

    /// Starts a round: a new logical clock, a vote for itself (voters), notifications out.
    pub(super) fn start_election(&mut self, out: &mut Vec<Output>) {
        self.election_clock += 1;
        let proposal = self.voter.then(|| self.own_vote());
        let min = self.cfg.notify_interval_ticks_min.max(1);
        self.state = State::Looking(Election {
            proposal,
            votes: BTreeMap::new(),
            settled: BTreeMap::new(),
            finalize_at: None,
            next_notify_at: self.tick + u64::from(min),
            notify_interval: min,
        });
        self.record_own_vote();
        self.role_changed(out, 0);
        self.notify_all(out);
        self.check_agreement(out);
    }

    fn record_own_vote(&mut self) {
        let (me, clock, voter) = (self.cfg.my_id, self.election_clock, self.voter);
        let election = self.election();
        if let (true, Some(vote)) = (voter, election.proposal) {
            election.votes.insert(
                me,
                Received {
                    vote,
                    election_epoch: clock,
                    state: ServerState::Looking,
                },
            );
        }
    }

    /// What this member says while looking.
    fn looking_notification(&self) -> Notification {
        let vote = match &self.state {
            State::Looking(e) => e.proposal,
            _ => None,
        };
        Notification {
            vote: vote.unwrap_or_else(|| self.own_vote()),
            election_epoch: self.election_clock,
            state: ServerState::Looking,
        }
    }

    /// What a settled member answers a looking one (`getCurrentVote`).
    fn settled_notification(&self) -> Notification {
        let (vote, election_epoch) = self
            .decided
            .unwrap_or((self.own_vote(), self.election_clock));
        let state = match &self.state {
            State::Looking(_) => ServerState::Looking,
            State::Learning(l) if l.observer => ServerState::Observing,
            State::Learning(_) => ServerState::Following,
            State::Leading(_) => ServerState::Leading,
        };
        Notification {
            vote,
            election_epoch,
            state,
        }
    }

    fn notify_all(&self, out: &mut Vec<Output>) {
        let notification = self.looking_notification();
        for &to in self.cfg.quorum.voters() {
            if to != self.cfg.my_id {
                out.push(Output::Notify { to, notification });
            }
        }
    }

    pub(super) fn election_tick(&mut self, out: &mut Vec<Output>) {
        let tick = self.tick;
        let max = self.cfg.notify_interval_ticks_max.max(1);
        let election = self.election();
        if election.finalize_at.is_some_and(|at| tick >= at) {
            election.finalize_at = None;
            if let Some(vote) = election.proposal {
                if self.proposal_has_quorum() {
                    let clock = self.election_clock;
                    self.decide(vote, clock, out);
                    return;
                }
            }
        }
        let election = self.election();
        if tick >= election.next_notify_at {
            election.notify_interval = election.notify_interval.saturating_mul(2).min(max);
            election.next_notify_at = tick + u64::from(election.notify_interval);
            self.notify_all(out);
        }
    }

    pub(super) fn on_notification(
        &mut self,
        from: ServerId,
        n: Notification,
        out: &mut Vec<Output>,
    ) {
        if from == self.cfg.my_id || self.cfg.role_of(from).is_none() {
            return;
        }
        if !matches!(self.state, State::Looking(_)) {
            // WorkerReceiver: a settled member tells a looking one what it settled on.
            if n.state == ServerState::Looking {
                let notification = self.settled_notification();
                out.push(Output::Notify {
                    to: from,
                    notification,
                });
            }
            return;
        }
        if !self.cfg.quorum.is_voter(from) {
            // Observers' votes never count; they get our vote back.
            let notification = self.looking_notification();
            out.push(Output::Notify {
                to: from,
                notification,
            });
            return;
        }
        // A voter behind our round gets our vote back. Observers never answer
        // (their vote counts for nobody; voters answering observers and
        // observers answering voters would echo forever).
        if self.voter && n.state == ServerState::Looking && n.election_epoch < self.election_clock {
            let notification = self.looking_notification();
            out.push(Output::Notify {
                to: from,
                notification,
            });
        }
        if !self.cfg.quorum.is_voter(n.vote.leader) {
            return;
        }
        let received = Received {
            vote: n.vote,
            election_epoch: n.election_epoch,
            state: n.state,
        };
        match n.state {
            ServerState::Looking => self.looking_vote(from, received, out),
            ServerState::Observing => {}
            ServerState::Following | ServerState::Leading => self.settled_vote(from, received, out),
        }
    }

    fn looking_vote(&mut self, from: ServerId, n: Received, out: &mut Vec<Output>) {
        let own = self.voter.then(|| self.own_vote());
        if n.election_epoch > self.election_clock {
            self.election_clock = n.election_epoch;
            let election = self.election();
            election.votes.clear();
            election.finalize_at = None;
            election.proposal = match own {
                Some(own) if !n.vote.beats(&own) => Some(own),
                _ => Some(n.vote),
            };
            self.record_own_vote();
            self.notify_all(out);
        } else if n.election_epoch < self.election_clock {
            return;
        } else if self.election().proposal.is_none_or(|p| n.vote.beats(&p)) {
            let election = self.election();
            election.proposal = Some(n.vote);
            election.finalize_at = None;
            self.record_own_vote();
            self.notify_all(out);
        }
        self.election().votes.insert(from, n);
        self.check_agreement(out);
    }

    fn settled_vote(&mut self, from: ServerId, n: Received, out: &mut Vec<Output>) {
        if n.election_epoch == self.election_clock {
            self.election().votes.insert(from, n);
            if self.settled_agree(n, false) {
                self.decide(n.vote, n.election_epoch, out);
                return;
            }
        }
        self.election().settled.insert(from, n);
        if self.settled_agree(n, true) {
            self.election_clock = n.election_epoch;
            self.decide(n.vote, n.election_epoch, out);
        }
    }

    /// Whether a quorum's votes agree with `n` and its leader is known to lead
    /// (`getVoteTracker(..).hasAllQuorums() && checkLeader(..)`).
    fn settled_agree(&mut self, n: Received, settled: bool) -> bool {
        let me = self.cfg.my_id;
        let clock = self.election_clock;
        let State::Looking(election) = &self.state else {
            unreachable!("only while looking")
        };
        let votes = if settled {
            &election.settled
        } else {
            &election.votes
        };
        let agreed = self
            .cfg
            .quorum
            .is_quorum(|id| votes.get(&id).is_some_and(|v| v.agrees(&n)));
        let leader_known = if n.vote.leader != me {
            votes
                .get(&n.vote.leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            n.election_epoch == clock
        };
        agreed && leader_known
    }

    fn proposal_has_quorum(&self) -> bool {
        let State::Looking(election) = &self.state else {
            return false;
        };
        let Some(vote) = election.proposal else {
            return false;
        };
        let ours = Received {
            vote,
            election_epoch: self.election_clock,
            state: ServerState::Looking,
        };
        self.cfg
            .quorum
            .is_quorum(|id| election.votes.get(&id).is_some_and(|v| v.agrees(&ours)))
    }

    /// The termination predicate: a quorum agrees on the proposal; decide after the grace.
    fn check_agreement(&mut self, out: &mut Vec<Output>) {
        if !self.proposal_has_quorum() {
            self.election().finalize_at = None;
            return;
        }
        if self.cfg.finalize_wait_ticks == 0 {
            let vote = self.election().proposal.expect("has a quorum");
            let clock = self.election_clock;
            self.decide(vote, clock, out);
            return;
        }
        let at = self.tick + u64::from(self.cfg.finalize_wait_ticks);
        let election = self.election();
        if election.finalize_at.is_none() {
            election.finalize_at = Some(at);
        }
    }

    fn decide(&mut self, vote: Vote, election_epoch: u64, out: &mut Vec<Output>) {
        self.decided = Some((vote, election_epoch));
        if vote.leader == self.cfg.my_id {
            self.become_leader(out);
        } else {
            self.become_learner(vote.leader, out);
        }
    }
}
