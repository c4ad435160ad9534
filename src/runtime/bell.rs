//! A doorbell: wakes one waiting task on the same core. Ringing a bell that is
//! already ringing is free, so producers can ring once per item without cost.

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};

/// The ringing side (cheap to clone).
#[derive(Clone)]
pub struct Bell {
    tx: std::rc::Rc<LocalSender<()>>,
}

/// The waiting side.
pub struct BellWaiter {
    rx: LocalReceiver<()>,
}

/// A connected bell pair.
pub fn bell() -> (Bell, BellWaiter) {
    let (tx, rx) = local_channel::new_bounded(1);
    (
        Bell {
            tx: std::rc::Rc::new(tx),
        },
        BellWaiter { rx },
    )
}

impl Bell {
    /// Wakes the waiter (or leaves the bell rung for its next wait).
    pub fn ring(&self) {
        let _ = self.tx.try_send(());
    }
}

impl BellWaiter {
    /// Waits for a ring; false once every `Bell` is gone.
    pub async fn wait(&self) -> bool {
        self.rx.recv().await.is_some()
    }
}
