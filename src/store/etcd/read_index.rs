//! One linearizable read shared by every caller that needs one at about the same time (issue
//! 21, point 4). Each write transaction of the etcd store whose first read is not a key
//! (`txn.rs`), and each read view whose first use is not a key or a prefix (`first_read.rs`
//! pins the others with their own first read), starts from a linearizable read (the member
//! confirms with the leader that it has applied everything committed so far): a round trip
//! through the leader. The committer workers and the audit threads each ask for one; when
//! they ask together, one round trip can serve them all.
//!
//! The rule that keeps it linearizable: a caller may use only an answer to a request *sent
//! after it asked*. A request already in flight when it arrives may have been answered by
//! the leader before a write that completed just before the caller asked, so the caller waits
//! for the next request, which it shares with everyone else who arrived meanwhile. So under
//! load at most two requests are outstanding per wave of callers instead of one per caller.

use std::sync::{Condvar, Mutex, PoisonError};

use crate::store::StoreError;

/// (revision, member that vouched for it), as `EtcdStore::linearizable_head` returns it.
pub(super) type Head = (i64, usize);

#[derive(Default)]
struct State {
    /// Number of the newest request sent.
    sent: u64,
    /// Number of the newest request answered, and its answer.
    answered: u64,
    answer: Option<Result<Head, StoreError>>,
    in_flight: bool,
}

#[derive(Default)]
pub(super) struct ReadIndex {
    state: Mutex<State>,
    answered: Condvar,
}

impl ReadIndex {
    /// A head from a linearizable read sent after this call began: `fetch` runs on this
    /// thread if no request is in flight, else the caller waits for the next one.
    pub(super) fn head(
        &self,
        fetch: impl FnOnce() -> Result<Head, StoreError>,
    ) -> Result<Head, StoreError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let needed = state.sent + 1;
        loop {
            if state.answered >= needed {
                return match &state.answer {
                    Some(answer) => copy(answer),
                    None => Err(StoreError::Failed(
                        "the shared etcd read has no answer".into(),
                    )),
                };
            }
            if !state.in_flight {
                state.in_flight = true;
                state.sent += 1;
                let number = state.sent;
                drop(state);
                // Resets `in_flight` and wakes the waiters also if `fetch` panics.
                let mut sender = Sender {
                    index: self,
                    number,
                    answer: None,
                };
                let answer = fetch();
                sender.answer = Some(copy(&answer));
                return answer;
            }
            state = self
                .answered
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Publishes the answer of request `number` (or its absence) when dropped.
struct Sender<'a> {
    index: &'a ReadIndex,
    number: u64,
    answer: Option<Result<Head, StoreError>>,
}

impl Drop for Sender<'_> {
    fn drop(&mut self) {
        let mut state = self
            .index
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.in_flight = false;
        state.answered = self.number;
        state.answer = self.answer.take();
        self.index.answered.notify_all();
    }
}

fn copy(answer: &Result<Head, StoreError>) -> Result<Head, StoreError> {
    match answer {
        Ok(head) => Ok(*head),
        Err(e) => Err(match e {
            StoreError::Io(m) => StoreError::Io(m.to_string().into()),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.to_string().into()),
            StoreError::UnsupportedSchema { found, supported } => StoreError::UnsupportedSchema {
                found: *found,
                supported: *supported,
            },
            StoreError::Failed(m) => StoreError::Failed(m.to_string().into()),
            StoreError::Conflict(m) => StoreError::Conflict(m.to_string().into()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.to_string().into()),
            StoreError::Full(m) => StoreError::Full(m.to_string().into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};

    use super::*;

    #[test]
    fn a_lone_caller_sends_its_own_request_every_time() {
        let index = ReadIndex::default();
        let sent = AtomicU64::new(0);
        for round in 1..=3 {
            let head = index
                .head(|| Ok((sent.fetch_add(1, Ordering::SeqCst) as i64 + 1, 0)))
                .unwrap();
            assert_eq!(head, (round, 0));
        }
        assert_eq!(sent.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn callers_that_arrive_together_share_requests_sent_after_they_arrived() {
        const CALLERS: usize = 16;
        let index = Arc::new(ReadIndex::default());
        // The "revision" is the request's number; a caller records the number of requests
        // already sent when it arrived, and must get an answer to a later one.
        let sent = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(Barrier::new(CALLERS));
        let threads: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (index, sent, barrier) = (index.clone(), sent.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let before = sent.load(Ordering::SeqCst);
                    let (number, _) = index
                        .head(|| {
                            let number = sent.fetch_add(1, Ordering::SeqCst) + 1;
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            Ok((number as i64, 0))
                        })
                        .unwrap();
                    assert!(
                        number as u64 > before,
                        "answered by request {number}, sent before the caller arrived (after {before})"
                    );
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let requests = sent.load(Ordering::SeqCst);
        eprintln!("{CALLERS} concurrent callers, {requests} linearizable reads");
        assert!(requests < CALLERS as u64, "nothing was shared: {requests}");
    }

    #[test]
    fn an_error_reaches_every_caller_that_shared_the_request() {
        let index = ReadIndex::default();
        let err = index
            .head(|| Err(StoreError::Unavailable("no quorum".into())))
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(m) if m.to_string() == "no quorum"));
        // The next caller sends a new request.
        assert_eq!(index.head(|| Ok((7, 1))).unwrap(), (7, 1));
    }
}
