//! The lane over the connection limit: the connections whose TLS
//! handshake or first request head is being read while every slot is
//! taken (or on the health listener), at most `capacity`. A newcomer to a
//! full lane closes one already there, which has sent no whole request head
//! yet (or it would have left the lane), so silent clients cannot fill the
//! lane and keep a probe out.
//!
//! Which one is closed: the oldest of the listener with the most clients
//! in the lane. The kernel queues each `SO_REUSEPORT` listener's clients
//! on their own, and each accept loop drains its own queue, so the order
//! of entry is the order of arrival only within one listener. Closing the
//! oldest of all let a backlog of silent clients drained on one listener
//! close a probe that had just come in on another, before its TLS
//! handshake could finish. Taking from the fullest listener first keeps a
//! burst on one listener to its own share of the lane.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The clients being read over the limit, oldest first.
pub(super) struct OverLane {
    capacity: usize,
    next: AtomicU64,
    queue: Mutex<VecDeque<Place>>,
}

/// One client in the lane.
struct Place {
    id: u64,
    /// The accept loop (listener) it came in on.
    listener: usize,
    close: tokio::sync::oneshot::Sender<()>,
}

impl OverLane {
    pub(super) fn new(capacity: usize) -> OverLane {
        OverLane {
            capacity: capacity.max(1),
            next: AtomicU64::new(0),
            queue: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// A place in the lane for a client of `listener`, closing one already
    /// there when it is full.
    pub(super) fn enter(self: &Arc<Self>, listener: usize) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = tokio::sync::oneshot::channel();
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while queue.len() >= self.capacity {
            let Some(at) = to_close(&queue) else { break };
            if let Some(place) = queue.remove(at) {
                let _ = place.close.send(());
            }
        }
        queue.push_back(Place {
            id,
            listener,
            close,
        });
        Ticket {
            lane: Arc::clone(self),
            id,
            closed,
        }
    }
}

/// The index of the place to close: the oldest of the listener with the
/// most places (of two as full, the one whose oldest came in first).
fn to_close(queue: &VecDeque<Place>) -> Option<usize> {
    let count = |listener: usize| queue.iter().filter(|p| p.listener == listener).count();
    let most = queue.iter().map(|p| count(p.listener)).max()?;
    // The queue is oldest first: the first place of a fullest listener is
    // the oldest of it, and of the fullest, the one that came in first.
    queue.iter().position(|p| count(p.listener) == most)
}

/// A client's place in the [`OverLane`]; leaves it when dropped.
pub(super) struct Ticket {
    lane: Arc<OverLane>,
    id: u64,
    closed: tokio::sync::oneshot::Receiver<()>,
}

impl Ticket {
    /// Completes when a newcomer took this place.
    pub(super) async fn evicted(&mut self) {
        let _ = (&mut self.closed).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut queue = self.lane.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.retain(|p| p.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot::error::TryRecvError;

    fn evicted(t: &mut Ticket) -> bool {
        !matches!(t.closed.try_recv(), Err(TryRecvError::Empty))
    }

    #[test]
    fn a_full_lane_closes_its_oldest_for_a_newcomer() {
        let lane = Arc::new(OverLane::new(2));
        let mut first = lane.enter(0);
        let second = lane.enter(0);
        // A ticket that left (its head read) is no longer counted.
        drop(second);
        let mut third = lane.enter(0);
        assert!(!evicted(&mut first));
        let mut fourth = lane.enter(0);
        // first is the oldest of two: closed for the fourth; third stays.
        assert!(evicted(&mut first));
        assert!(!evicted(&mut third) && !evicted(&mut fourth));
        assert_eq!(lane.queue.lock().unwrap().len(), 2);
    }

    /// The CI failure of stop 32: a probe came in on one listener while
    /// another drained its backlog of silent clients, and was closed by
    /// them before its TLS handshake finished.
    #[test]
    fn a_burst_on_one_listener_closes_only_its_own() {
        let lane = Arc::new(OverLane::new(4));
        let mut silent: Vec<Ticket> = (0..3).map(|_| lane.enter(1)).collect();
        let mut probe = lane.enter(0);
        // Forty more silent clients of listener 1, newer in the lane but
        // older in the kernel's queue: each closes one of listener 1's.
        let mut burst: Vec<Ticket> = (0..40).map(|_| lane.enter(1)).collect();
        assert!(
            !evicted(&mut probe),
            "the probe stays while listener 1 has more"
        );
        assert!(silent.iter_mut().all(evicted));
        assert_eq!(burst.iter_mut().map(evicted).filter(|e| !e).count(), 3);
        // Listener 0's own newcomers close its oldest, the probe, in turn.
        let _next = lane.enter(0);
        let _after = lane.enter(0);
        assert!(evicted(&mut probe));
    }
}
