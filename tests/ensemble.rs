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
