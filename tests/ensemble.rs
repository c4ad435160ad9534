//! A 3-member ensemble of real `corekeeper` processes on 127.0.0.1: election,
//! writes through every member, reads everywhere, the leader killed with
//! SIGKILL under load, and a restarted member catching up.

mod common;

use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, START_WAIT};
use zookeeper_client::{Acls, Client, CreateMode, CreateOptions};

const WAIT: Duration = Duration::from_secs(15);

fn persistent() -> CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

async fn connect(addr: &str) -> Client {
    tokio::time::timeout(WAIT, Client::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Retries `create` across a leader change (ConnectionLoss and the like),
/// returning whether the node exists at the end.
async fn create_retrying(addrs: &str, path: &str, data: &[u8]) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Ok(client)) =
            tokio::time::timeout(Duration::from_secs(3), Client::connect(addrs)).await
        {
            match tokio::time::timeout(
                Duration::from_secs(3),
                client.create(path, data, &persistent()),
            )
            .await
            {
                Ok(Ok(_)) | Ok(Err(zookeeper_client::Error::NodeExists)) => return,
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "could not create {path} in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_replicate_and_survive_the_leader() {
    let mut ensemble = Ensemble::start("basic", 3, 0);
    let leader = ensemble.wait_for_leader(START_WAIT);

    // Writes through a follower and through the leader; every member has
    // every write once it syncs.
    let follower = (leader + 1) % 3;
    let via_follower = connect(&ensemble.addr(follower)).await;
    via_follower
        .create("/f", b"from a follower", &persistent())
        .await
        .expect("create via follower");
    let via_leader = connect(&ensemble.addr(leader)).await;
    via_leader
        .create("/l", b"from the leader", &persistent())
        .await
        .expect("create via leader");
    for i in 0..3 {
        let client = connect(&ensemble.addr(i)).await;
        client.sync("/").await.expect("sync");
        let (data, _) = client.get_data("/f").await.expect("/f everywhere");
        assert_eq!(data, b"from a follower");
        let (data, _) = client.get_data("/l").await.expect("/l everywhere");
        assert_eq!(data, b"from the leader");
    }
    // An ephemeral made through a follower belongs to a global session.
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    via_follower
        .create("/e", b"", &ephemeral)
        .await
        .expect("ephemeral");
    drop(via_follower);
    drop(via_leader);

    // Kill the leader: the two others elect a new one and keep every write.
    ensemble.kill(leader);
    let started = Instant::now();
    let new_leader = ensemble.wait_for_leader(START_WAIT);
    assert_ne!(new_leader, leader);
    eprintln!("new leader serving after {:?}", started.elapsed());
    let survivors: Vec<String> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| ensemble.addr(i))
        .collect();
    create_retrying(&survivors.join(","), "/after", b"x").await;
    for addr in &survivors {
        let client = connect(addr).await;
        client.sync("/").await.expect("sync");
        assert!(
            client.check_stat("/f").await.expect("read").is_some(),
            "/f survived"
        );
        assert!(
            client.check_stat("/l").await.expect("read").is_some(),
            "/l survived"
        );
        assert!(client.check_stat("/after").await.expect("read").is_some());
    }

    // The old leader comes back as a follower and catches up.
    ensemble.start_member(leader);
    let _ = ensemble.wait_for_leader(START_WAIT);
    let client = connect(&ensemble.addr(leader)).await;
    client.sync("/").await.expect("sync");
    assert!(
        client.check_stat("/after").await.expect("read").is_some(),
        "caught up"
    );
}

/// Waits until `client` (on any member) sees `path`.
async fn wait_exists(client: &Client, path: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(Some(_)) = client.check_stat(path).await {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_far_behind_catches_up_by_snapshot() {
    let mut ensemble = Ensemble::start("snap", 3, 0);
    let leader = ensemble.wait_for_leader(START_WAIT);
    let lagging = (leader + 1) % 3;
    ensemble.kill(lagging);
    // More txns than the leader keeps for a DIFF (500): the member needs SNAP.
    let client = connect(&ensemble.addr(leader)).await;
    client
        .create("/bulk", b"", &persistent())
        .await
        .expect("create");
    for i in 0..700 {
        client
            .create(
                &format!("/bulk/n{i:04}"),
                format!("v{i}").as_bytes(),
                &persistent(),
            )
            .await
            .expect("create");
    }
    ensemble.start_member(lagging);
    ensemble.wait_for_leader(START_WAIT);
    let caught_up = connect(&ensemble.addr(lagging)).await;
    caught_up.sync("/").await.expect("sync");
    let children = caught_up.list_children("/bulk").await.expect("children");
    assert_eq!(children.len(), 700, "every node reached the member");
    let (data, _) = caught_up.get_data("/bulk/n0699").await.expect("data");
    assert_eq!(data, b"v699");
    // It keeps up from there on, and survives its own restart.
    client
        .create("/after-snap", b"", &persistent())
        .await
        .expect("create");
    wait_exists(&caught_up, "/after-snap").await;
    drop(caught_up);
    ensemble.kill(lagging);
    ensemble.start_member(lagging);
    ensemble.wait_for_leader(START_WAIT);
    let again = connect(&ensemble.addr(lagging)).await;
    again.sync("/").await.expect("sync");
    assert_eq!(
        again.list_children("/bulk").await.expect("children").len(),
        700
    );
    wait_exists(&again, "/after-snap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_ephemerals_survive_a_leader_change() {
    let mut ensemble = Ensemble::start("session", 3, 0);
    let leader = ensemble.wait_for_leader(START_WAIT);
    let follower = (leader + 1) % 3;
    // A client on a follower (the connect string lists only it and the other
    // survivor), with an ephemeral node.
    let other = (leader + 2) % 3;
    let addrs = format!("{},{}", ensemble.addr(follower), ensemble.addr(other));
    let client = tokio::time::timeout(
        WAIT,
        Client::connector()
            .with_session_timeout(Duration::from_secs(6))
            .connect(&addrs),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let session = client.session_id();
    let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    client
        .create("/mine", b"eph", &ephemeral)
        .await
        .expect("ephemeral");

    ensemble.kill(leader);
    ensemble.wait_for_leader(START_WAIT);
    // The same session carries on (the client reconnects by itself); its
    // ephemeral is still there.
    let deadline = Instant::now() + WAIT;
    loop {
        match client.get_data("/mine").await {
            Ok((data, stat)) => {
                assert_eq!(data, b"eph");
                assert_eq!(stat.ephemeral_owner, session.0);
                break;
            }
            Err(_) => {
                assert!(Instant::now() < deadline, "the session did not come back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(
        client.session_id(),
        session,
        "same session after the leader change"
    );
    client
        .create("/still-writing", b"", &persistent())
        .await
        .expect("writes work");

    // Closing the session deletes the ephemeral on every member.
    drop(client);
    let observer = connect(&ensemble.addr(other)).await;
    let deadline = Instant::now() + WAIT;
    while observer.check_stat("/mine").await.expect("read").is_some() {
        assert!(
            Instant::now() < deadline,
            "the ephemeral outlived its session"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_is_replaced_and_rejoins_without_losing_writes() {
    let ensemble = Ensemble::start("sigstop", 3, 0);
    let leader = ensemble.wait_for_leader(START_WAIT);
    let client = connect(&ensemble.addr((leader + 1) % 3)).await;
    client
        .create("/before", b"1", &persistent())
        .await
        .expect("create");
    drop(client);
    // SIGSTOP: its sockets stay open; the others notice only by silence
    // (syncLimit x tickTime = 1 s here).
    ensemble.pause(leader, true);
    let started = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let deadline = Instant::now() + START_WAIT;
    let new_leader = loop {
        let found = survivors
            .iter()
            .copied()
            .find(|i| ensemble.mode(*i).as_deref() == Some("leader"));
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader while the old one is frozen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("new leader after a silent leader: {:?}", started.elapsed());
    let addrs: Vec<String> = survivors.iter().map(|i| ensemble.addr(*i)).collect();
    create_retrying(&addrs.join(","), "/during", b"2").await;
    // The old leader wakes up, finds it lost its quorum, and follows.
    ensemble.pause(leader, false);
    let back = ensemble.wait_for_leader(START_WAIT);
    assert_eq!(
        back, new_leader,
        "the thawed leader does not take over again"
    );
    let client = connect(&ensemble.addr(leader)).await;
    client.sync("/").await.expect("sync");
    for path in ["/before", "/during"] {
        assert!(
            client.check_stat(path).await.expect("read").is_some(),
            "{path} kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_learns_every_commit_but_never_makes_a_quorum() {
    let mut ensemble = Ensemble::start("observer", 3, 1);
    let leader = ensemble.wait_for_leader(START_WAIT);
    let observer = 3;
    assert_eq!(ensemble.mode(observer).as_deref(), Some("observer"));
    // Writes through the observer are forwarded; reads there see them.
    let via_observer = connect(&ensemble.addr(observer)).await;
    via_observer
        .create("/obs", b"o", &persistent())
        .await
        .expect("create via observer");
    let via_leader = connect(&ensemble.addr(leader)).await;
    via_leader
        .create("/lead", b"l", &persistent())
        .await
        .expect("create via leader");
    wait_exists(&via_observer, "/lead").await;
    drop(via_observer);
    drop(via_leader);
    // Two of the three voters gone: the observer does not make a quorum with
    // the last one, so nobody leads and nobody serves.
    let voters: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    ensemble.kill(leader);
    ensemble.kill(voters[0]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in [voters[1], observer] {
        assert_eq!(ensemble.mode(i), None, "member {i} serves without a quorum");
    }
    // One voter back: a quorum again, and nothing lost.
    ensemble.start_member(voters[0]);
    ensemble.wait_for_leader(START_WAIT);
    let client = connect(&ensemble.addr(observer)).await;
    client.sync("/").await.expect("sync");
    for path in ["/obs", "/lead"] {
        assert!(
            client.check_stat(path).await.expect("read").is_some(),
            "{path} kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_members_keep_writing_with_two_down() {
    let mut ensemble = Ensemble::start("five", 5, 0);
    let leader = ensemble.wait_for_leader(START_WAIT);
    let others: Vec<usize> = (0..5).filter(|i| *i != leader).collect();
    // A follower and the leader down: three of five are still a quorum.
    ensemble.kill(others[0]);
    ensemble.kill(leader);
    ensemble.wait_for_leader(START_WAIT);
    let alive: Vec<String> = others[1..].iter().map(|i| ensemble.addr(*i)).collect();
    create_retrying(&alive.join(","), "/five", b"5").await;
    for addr in &alive {
        let client = connect(addr).await;
        client.sync("/").await.expect("sync");
        assert!(client.check_stat("/five").await.expect("read").is_some());
    }
}
