//! Links between ensemble members (`net::peer`): three members in one glommio
//! executor on 127.0.0.1, frames both ways, refusal of strangers and of
//! oversized frames, and a restarted member replacing its old link.

use std::net::SocketAddr;
use std::time::Duration;

use corekeeper::net::peer::{PeerEvent, PeerLinks, PeerSpec};
use corekeeper::runtime::bell::BellWaiter;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::LocalExecutorBuilder;

const MAX_FRAME: usize = 1 << 16;

/// Three free ports on 127.0.0.1 (bound and released; the race is harmless here).
fn ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn specs(ports: &[u16], except: u64) -> Vec<PeerSpec> {
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| PeerSpec {
            id: i as u64 + 1,
            host: "127.0.0.1".to_owned(),
            port: *port,
        })
        .filter(|p| p.id != except)
        .collect()
}

struct Member {
    links: PeerLinks,
    waiter: BellWaiter,
    seen: Vec<PeerEvent>,
}

impl Member {
    fn start(id: u64, ports: &[u16]) -> Member {
        let listen: SocketAddr = format!("127.0.0.1:{}", ports[id as usize - 1])
            .parse()
            .expect("addr");
        let (links, waiter) =
            PeerLinks::start(id, listen, &specs(ports, id), MAX_FRAME).expect("start");
        Member {
            links,
            waiter,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) until an event matching `pred` arrives; returns it.
    async fn expect(&mut self, what: &str, pred: impl Fn(&PeerEvent) -> bool) -> PeerEvent {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.seen.iter().position(&pred) {
                return self.seen.remove(i);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            let waiter = &self.waiter;
            let woke = futures_lite::future::or(async { Some(waiter.wait().await) }, async {
                glommio::timer::sleep(Duration::from_millis(50)).await;
                None
            })
            .await;
            let _ = woke;
            self.links.drain(&mut self.seen);
        }
    }

    async fn up(&mut self, peer: u64) -> u64 {
        match self
            .expect(
                &format!("link up to {peer}"),
                |e| matches!(e, PeerEvent::Up { peer: p, .. } if *p == peer),
            )
            .await
        {
            PeerEvent::Up { link, .. } => link,
            _ => unreachable!(),
        }
    }

    async fn frame(&mut self, peer: u64) -> Vec<u8> {
        match self
            .expect(
                &format!("frame from {peer}"),
                |e| matches!(e, PeerEvent::Frame { peer: p, .. } if *p == peer),
            )
            .await
        {
            PeerEvent::Frame { payload, .. } => payload.to_vec(),
            _ => unreachable!(),
        }
    }
}

fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    LocalExecutorBuilder::default()
        .spawn(move || async move { f().await })
        .expect("executor")
        .join()
        .expect("test body");
}

#[test]
fn members_link_up_and_exchange_frames() {
    run(|| async {
        let ports = ports(3);
        let mut members: Vec<Member> = (1..=3).map(|id| Member::start(id, &ports)).collect();
        for (i, member) in members.iter_mut().enumerate() {
            let me = i as u64 + 1;
            for peer in (1..=3).filter(|p| *p != me) {
                member.up(peer).await;
            }
        }
        // Both directions on each link, several frames batched, order kept.
        for n in 0..10u8 {
            assert!(members[2].links.send(1, &[n; 100]));
            assert!(members[0].links.send(3, &[n, n]));
        }
        assert!(members[1].links.send(3, b""), "empty frames are frames");
        for n in 0..10u8 {
            assert_eq!(members[0].frame(3).await, vec![n; 100]);
            assert_eq!(members[2].frame(1).await, vec![n, n]);
        }
        assert_eq!(members[2].frame(2).await, b"");
        for member in &members {
            member.links.stop();
        }
    });
}

#[test]
fn strangers_and_oversized_frames_are_refused() {
    run(|| async {
        let ports = ports(2);
        let mut one = Member::start(1, &ports);
        let mut two = Member::start(2, &ports);
        let first = one.up(2).await;
        two.up(1).await;

        // A stranger speaking garbage, and one claiming an unknown id: refused,
        // the members' link untouched.
        let addr = format!("127.0.0.1:{}", ports[0]);
        let mut garbage = glommio::net::TcpStream::connect(addr.as_str())
            .await
            .expect("connect");
        garbage.write_all(&[0xAB; 64]).await.expect("write");
        let mut buf = [0u8; 8];
        assert_eq!(
            garbage.read(&mut buf).await.unwrap_or(0),
            0,
            "closed without a reply"
        );
        let mut impostor = glommio::net::TcpStream::connect(addr.as_str())
            .await
            .expect("connect");
        let mut hello = b"CKP1".to_vec();
        hello.extend_from_slice(&9u64.to_be_bytes());
        hello.extend_from_slice(&1u64.to_be_bytes());
        impostor.write_all(&hello).await.expect("write");
        assert_eq!(
            impostor.read(&mut buf).await.unwrap_or(0),
            0,
            "closed without a reply"
        );
        assert!(one.links.send(2, b"still here"));
        assert_eq!(two.frame(1).await, b"still here");

        // An oversized frame closes that link; the dialer (2) comes back.
        assert!(two.links.send(1, &vec![7u8; MAX_FRAME + 1]));
        one.expect(
            "link down",
            |e| matches!(e, PeerEvent::Down { link, .. } if *link == first),
        )
        .await;
        let second = one.up(2).await;
        assert_ne!(first, second);
        two.up(1).await;
        assert!(two.links.send(1, b"again"));
        assert_eq!(one.frame(2).await, b"again");
        one.links.stop();
        two.links.stop();
    });
}

#[test]
fn a_restarted_member_replaces_its_link() {
    run(|| async {
        let ports = ports(2);
        let mut one = Member::start(1, &ports);
        let two = Member::start(2, &ports);
        let first = one.up(2).await;
        // Member 2 goes away and a new incarnation dials in.
        two.links.stop();
        drop(two);
        one.expect(
            "old link down",
            |e| matches!(e, PeerEvent::Down { link, .. } if *link == first),
        )
        .await;
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let mut two = Member::start(2, &ports);
        let second = one.up(2).await;
        assert!(second > first);
        two.up(1).await;
        assert!(one.links.send(2, b"hello again"));
        assert_eq!(two.frame(1).await, b"hello again");
        assert!(!one.links.send(3, b"nobody"), "no link, no send");
        one.links.stop();
        two.links.stop();
    });
}
