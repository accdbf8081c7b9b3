//! Group commit: threads appending through one handle hand their payloads to whichever of them
//! leads; the leader writes everyone's records with one `write` under one lock and makes them
//! durable with one `fdatasync`, then wakes them with their acknowledgements. Threads that
//! arrive while a batch is being written gather the next one, so the batch grows with the load
//! and each sync covers as many records as arrived during the previous one.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::ack::Ack;
use crate::error::Error;

/// The outcome of one batch, for its members to collect.
#[derive(Debug)]
struct Finished {
    id: u64,
    /// The acknowledgement of each payload, in batch order, or what went wrong.
    acks: Outcome,
    /// Members that have not collected theirs yet.
    pending: usize,
}

#[derive(Debug, Default)]
struct Queue {
    /// Payloads of the batch being gathered, back to back, and where each ends.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Threads whose payloads are in it.
    members: usize,
    /// Id of the batch being gathered.
    open: u64,
    /// A thread is writing a batch.
    leading: bool,
    finished: VecDeque<Finished>,
    /// Buffers of the last batch written, kept for reuse.
    spare: (Vec<u8>, Vec<usize>),
    /// Members of the last batch written: a new leader waits for them to come back.
    last_members: usize,
    /// How many members the gathering leader waits for.
    gather_target: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Combiner {
    queue: Mutex<Queue>,
    /// Members of batch `id` wait on `done[id % 2]`: a finished batch wakes its own members
    /// (and one member of the next, to lead it), not every thread waiting.
    done: [Condvar; 2],
    /// A member joined the open batch (a gathering leader waits on it).
    joined: Condvar,
}

/// Longest a new leader waits for the previous batch's members to join its batch. Woken
/// members need a moment to be scheduled and return with their next payload; on a small
/// machine, writing at once would sync a batch of one or two while the rest queue behind it.
const GATHER: Duration = Duration::from_micros(200);

/// What a member gets back: its acknowledgements, or a copy of the leader's error (`None`
/// when the leader panicked).
pub(crate) type Outcome = Result<Vec<Ack>, Option<Error>>;

impl Combiner {
    /// Queues `payloads` and returns their acknowledgements once a leader — this thread or
    /// another — wrote and synced the batch that holds them. `commit` writes and syncs a batch
    /// (payload bytes and their end offsets) and returns one acknowledgement per payload.
    pub(crate) fn submit<'a>(
        &self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
        commit: impl FnOnce(&[u8], &[usize]) -> Outcome,
    ) -> Outcome {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let id = q.open;
        let start = q.ends.len();
        for p in payloads {
            q.bytes.extend_from_slice(p);
            let end = q.bytes.len();
            q.ends.push(end);
        }
        let count = q.ends.len() - start;
        q.members += 1;
        if q.leading && q.members >= q.gather_target {
            self.joined.notify_one();
        }
        let mut commit = Some(commit);
        loop {
            if let Some(at) = q.finished.iter().position(|f| f.id == id) {
                let f = &mut q.finished[at];
                let mine = f
                    .acks
                    .as_ref()
                    .map(|acks| acks[start..start + count].to_vec())
                    .map_err(|e: &Option<Error>| e.as_ref().map(Error::duplicate));
                f.pending -= 1;
                if f.pending == 0 {
                    q.finished.remove(at);
                }
                return mine;
            }
            if !q.leading {
                // No one is writing, so our batch is the open one: lead it, once those who
                // were in the last batch had a moment to join.
                let commit = commit.take().expect("a thread leads at most once");
                q.leading = true;
                // Those already here, and the members of the batch that just finished, who are
                // on their way back with their next payload.
                let target = q.members + q.last_members;
                q.gather_target = target;
                let deadline = Instant::now() + GATHER;
                while q.members < target {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
                    q = self.joined.wait_timeout(q, left).unwrap_or_else(PoisonError::into_inner).0;
                }
                q.last_members = q.members;
                q.gather_target = usize::MAX;
                let (spare_bytes, spare_ends) = std::mem::take(&mut q.spare);
                let bytes = std::mem::replace(&mut q.bytes, spare_bytes);
                let ends = std::mem::replace(&mut q.ends, spare_ends);
                let members = std::mem::take(&mut q.members);
                q.open += 1;
                drop(q);
                // Should `commit` panic, the guard still hands leadership on with an error:
                // no member waits forever.
                let mut leader = Leader { combiner: self, id, members, outcome: None };
                leader.outcome = Some(commit(&bytes, &ends));
                drop(leader);
                q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let (mut bytes, mut ends) = (bytes, ends);
                bytes.clear();
                ends.clear();
                q.spare = (bytes, ends);
                continue;
            }
            q = self.done[(id % 2) as usize].wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Ends a leader's turn: publishes the batch's outcome and wakes its members.
struct Leader<'a> {
    combiner: &'a Combiner,
    id: u64,
    members: usize,
    outcome: Option<Outcome>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let acks = self.outcome.take().unwrap_or(Err(None));
        let mut q = self.combiner.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.leading = false;
        q.finished.push_back(Finished { id: self.id, acks, pending: self.members });
        self.combiner.done[(self.id % 2) as usize].notify_all();
        // Someone in the next batch leads it.
        self.combiner.done[((self.id + 1) % 2) as usize].notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_members_share_batches_and_get_their_own_acks() {
        let combiner = Arc::new(Combiner::default());
        let next_seq = Arc::new(AtomicU64::new(1));
        let batches = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let (combiner, next_seq, batches) =
                    (combiner.clone(), next_seq.clone(), batches.clone());
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..100u64 {
                        let payload = format!("{t}:{i}");
                        let acks = combiner
                            .submit([payload.as_bytes()], |bytes, ends| {
                                batches.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(std::time::Duration::from_micros(300));
                                let first = next_seq.fetch_add(ends.len() as u64, Ordering::SeqCst);
                                assert_eq!(ends.last().copied(), Some(bytes.len()));
                                Ok((0..ends.len() as u64)
                                    .map(|k| Ack { seq: first + k, ts: 0, duplicate: false })
                                    .collect())
                            })
                            .unwrap();
                        assert_eq!(acks.len(), 1);
                        mine.push(acks[0].seq);
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=800).collect::<Vec<_>>(), "every payload got its own seq");
        let batches = batches.load(Ordering::SeqCst);
        assert!(batches < 800, "{batches} batches for 800 payloads: nothing was combined");
    }

    #[test]
    fn a_failed_batch_fails_all_its_members_and_a_panic_does_not_hang_them() {
        let combiner = Combiner::default();
        let eio = || Error::invalid_argument("eio");
        let err = combiner.submit([&b"x"[..]], |_, _| Err(Some(eio())));
        assert_eq!(err.unwrap_err().map(|e| e.to_string()), Some(eio().to_string()));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            combiner.submit([&b"y"[..]], |_, _| panic!("boom"))
        }));
        assert!(panicked.is_err());
        // The next submitter is not stuck behind the dead leader.
        let ok = combiner.submit([&b"z"[..]], |_, ends| {
            Ok(vec![Ack { seq: 9, ts: 0, duplicate: false }; ends.len()])
        });
        assert_eq!(ok.unwrap()[0].seq, 9);
    }
}
