//! Group commit: threads appending through one handle share `fdatasync` calls.
//!
//! Each write takes a ticket, in write order. A thread whose ticket is not yet covered becomes
//! the leader if no sync is running: it notes the newest ticket written, syncs, and marks every
//! ticket up to that one durable. Threads arriving meanwhile wait, and the next leader covers
//! them all with one sync.

use std::sync::{Condvar, Mutex, PoisonError};

#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Every ticket up to this one is durable.
    synced: u64,
    /// A thread is syncing.
    leading: bool,
}

impl GroupCommit {
    /// Returns once `ticket` is durable. `sync` syncs and returns the newest ticket its sync
    /// covers; `failed` reports an earlier failure (the handle is poisoned), which fails every
    /// ticket not covered before it.
    pub(crate) fn wait<E>(
        &self,
        ticket: u64,
        mut sync: impl FnMut() -> Result<u64, E>,
        failed: impl Fn() -> Option<E>,
    ) -> Result<(), E> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.synced >= ticket {
                return Ok(());
            }
            if let Some(err) = failed() {
                return Err(err);
            }
            if state.leading {
                state = self.done.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.leading = true;
            drop(state);
            // Should `sync` panic, the guard still hands leadership on: no waiter hangs.
            let mut leader = Leader { group: self, covered: None };
            let result = sync();
            leader.covered = result.as_ref().ok().copied();
            drop(leader);
            result?;
            state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Ends a leader's turn: records what its sync covered and wakes the waiters.
struct Leader<'a> {
    group: &'a GroupCommit,
    covered: Option<u64>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut state = self.group.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.leading = false;
        if let Some(covered) = self.covered {
            state.synced = state.synced.max(covered);
        }
        self.group.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_waiters_share_syncs_and_all_return() {
        let group = Arc::new(GroupCommit::default());
        let written = Arc::new(AtomicU64::new(0));
        let syncs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (group, written, syncs) = (group.clone(), written.clone(), syncs.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let ticket = written.fetch_add(1, Ordering::SeqCst) + 1;
                        let sync = || {
                            let covered = written.load(Ordering::SeqCst);
                            syncs.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            Ok::<u64, ()>(covered)
                        };
                        group.wait(ticket, sync, || None).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let syncs = syncs.load(Ordering::SeqCst);
        assert!(syncs < 1600, "{syncs} syncs for 1600 tickets: nothing was shared");
    }

    #[test]
    fn a_failed_sync_fails_uncovered_tickets() {
        let group = GroupCommit::default();
        assert_eq!(group.wait(1, || Err::<u64, &str>("eio"), || None), Err("eio"));
        assert_eq!(group.wait(2, || Ok::<u64, &str>(2), || Some("poisoned")), Err("poisoned"));
        let ok = GroupCommit::default();
        ok.wait(3, || Ok::<u64, &str>(3), || None).unwrap();
        assert_eq!(ok.wait(2, || Err("unused"), || Some("poisoned")), Ok(()));
    }
}
