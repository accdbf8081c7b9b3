//! Group commit, pipelined: threads appending through one handle queue their payloads; whichever
//! of them finds no batch being written writes everything queued with one `write` (under one
//! lock), and whichever finds no `fdatasync` running syncs everything written so far. The two
//! overlap: the next batch is written while the current one syncs.
//!
//! Every written batch gets a ticket, in file order. A sync notes the last ticket written before
//! it starts (and the file end that batch left, which it publishes as the durable watermark);
//! once the `fdatasync` returns, every member of a batch up to that ticket is acknowledged, each
//! through its own slot (a mutex and condition variable of its thread): only the threads whose
//! records the sync covered wake. A member is never acknowledged before a sync that began after
//! its batch was written has returned. A failed sync fails every member it was to cover (and
//! poisons the handle, so every later one fails too).
//!
//! After a sync, the next batch is not written nor synced for a moment (the gather: as long as
//! that sync took, at most [`GATHER_MAX`]) while the threads it just acknowledged come back with
//! their next records, and ends as soon as all of them are back: in a closed loop, one `write`
//! and one sync then cover every thread, instead of each sync covering half of them (those
//! written while the previous one ran) and each thread waiting for two. The gather halves each
//! time one that someone waited for ran out with none of those threads back (threads that do
//! not append again soon), down to 1/64 of a sync, and is whole again once all come back; with
//! one thread it never waits, so `Group` costs what `Always` does.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::ack::BatchAck;
use crate::error::Error;

/// Longest a sync waits for the threads the previous sync acknowledged to come back.
const GATHER_MAX: Duration = Duration::from_millis(1);
/// The gather shrinks to at least 1/64 of a sync's time.
const MAX_GATHER_SHIFT: u32 = 6;

/// What a member gets back: its acknowledgement, or a copy of the error that failed its batch
/// (`None` when the thread writing or syncing it panicked).
pub(crate) type Outcome = Result<BatchAck, Option<Error>>;

/// Where one thread waits for its outcome, or to be asked to take a role. One per thread, made
/// once and reused by every append it makes.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    woken: Condvar,
    /// Its outcome is decided (set under the pipe's lock; the outcome itself follows).
    decided: AtomicBool,
    /// The generation of the sync that last acknowledged this thread (see `Pipe::wake_gen`).
    acked_by: AtomicU64,
}

#[derive(Debug, Default)]
struct SlotState {
    outcome: Option<Outcome>,
    /// Asked to look for a role to take.
    nudged: bool,
    /// Its thread is waiting on the condition variable: only then is a wake-up (a system
    /// call) needed.
    waiting: bool,
}

thread_local! {
    static SLOT: Arc<Slot> = Arc::new(Slot::default());
}

/// Generations of syncs, unique across handles (a thread's slot serves every handle).
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A member of a batch: the thread, and its payloads' place in the batch.
#[derive(Debug)]
struct Member {
    slot: Arc<Slot>,
    start: usize,
    count: usize,
}

/// A member whose batch is written, waiting for a sync to cover its ticket.
#[derive(Debug)]
struct Written {
    ticket: u64,
    slot: Arc<Slot>,
    ack: BatchAck,
}

#[derive(Debug)]
struct Pipe<T> {
    /// Payloads of the batch being gathered, back to back, where each ends, and its members.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    queued: Vec<Member>,
    /// Members whose batches are written, in ticket order.
    written: VecDeque<Written>,
    /// A thread is writing a batch / is syncing.
    writing: bool,
    syncing: bool,
    /// The last ticket given to a written batch, and the last one a sync settled (acknowledged
    /// or failed).
    last_written: u64,
    settled: u64,
    /// What a sync of everything written so far syncs (and publishes).
    latest: Option<T>,
    /// Threads the last sync acknowledged that have not queued again, and that sync's
    /// generation.
    returning: usize,
    wake_gen: u64,
    /// Until when the next sync waits for them, and how many there were.
    gather_until: Option<Instant>,
    gather_from: usize,
    /// The gather lasts the last sync's time divided by 2^`gather_shift`: halved each time
    /// a gather someone waited for ran out with none of them back (threads that do not append
    /// again soon), whole again once all come back.
    gather_shift: u32,
    /// A thread waiting (with a timeout) to sync once the gather ends.
    gatherer: Option<Arc<Slot>>,
    /// Buffers kept for reuse: no allocation per append once they have grown.
    spare_bytes: Vec<u8>,
    spare_ends: Vec<usize>,
    spare_members: Vec<Member>,
    spare_delivery: Vec<(Arc<Slot>, Outcome)>,
}

impl<T> Default for Pipe<T> {
    fn default() -> Self {
        Pipe {
            bytes: Vec::new(),
            ends: Vec::new(),
            queued: Vec::new(),
            written: VecDeque::new(),
            writing: false,
            syncing: false,
            last_written: 0,
            settled: 0,
            latest: None,
            returning: 0,
            wake_gen: 0,
            gather_until: None,
            gather_from: 0,
            gather_shift: 0,
            gatherer: None,
            spare_bytes: Vec::new(),
            spare_ends: Vec::new(),
            spare_members: Vec::new(),
            spare_delivery: Vec::new(),
        }
    }
}

/// What a thread can do for the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Write,
    Sync,
}

impl<T> Pipe<T> {
    /// Whether the gather after the last sync is over: every thread it acknowledged is back,
    /// or its time is up.
    fn gathered(&self, now: Instant) -> bool {
        self.returning == 0 || self.gather_until.is_none_or(|until| now >= until)
    }

    /// Payloads queued, or batches written and not synced.
    fn pending(&self) -> bool {
        !self.queued.is_empty() || self.last_written > self.settled
    }

    /// The role a thread should take now, if any. While a sync runs, what arrives is written
    /// at once, ready for the next sync. Otherwise nothing starts before the gather is over:
    /// then what is queued is written with one `write`, and everything written is synced.
    fn role(&self, now: Instant) -> Option<Role> {
        if self.writing {
            // (Its writer syncs next, if no one else is.)
            return None;
        }
        if self.syncing {
            return (!self.queued.is_empty()).then_some(Role::Write);
        }
        if !self.gathered(now) {
            return None;
        }
        if !self.queued.is_empty() {
            Some(Role::Write)
        } else if self.last_written > self.settled {
            Some(Role::Sync)
        } else {
            None
        }
    }

    /// Whether someone must wait for the gather to end, on time.
    fn needs_gatherer(&self, now: Instant) -> bool {
        !self.syncing && !self.writing && self.pending() && !self.gathered(now)
    }

    /// Called by a thread whose outcome is decided, before it leaves: a thread to wake to take
    /// a role that has work, or to wait for the gather to end, if any.
    fn taker(&mut self, leaving: &Arc<Slot>, now: Instant) -> Option<Arc<Slot>> {
        if self
            .gatherer
            .as_ref()
            .is_some_and(|g| Arc::ptr_eq(g, leaving) || g.decided.load(Ordering::Relaxed))
        {
            // (A decided gatherer leaves, or has left: it waits for nothing more.)
            self.gatherer = None;
        }
        let wanted = match self.role(now) {
            Some(_) => true,
            None => self.needs_gatherer(now) && self.gatherer.is_none(),
        };
        if !wanted {
            return None;
        }
        let any = self
            .gatherer
            .as_ref()
            .or(self.written.front().map(|w| &w.slot))
            .or(self.queued.first().map(|m| &m.slot));
        any.cloned()
    }
}

/// Group commit for one handle; `T` is what a sync needs to know of the batches written
/// (the file, and the end to publish).
#[derive(Debug)]
pub(crate) struct Combiner<T> {
    pipe: Mutex<Pipe<T>>,
}

impl<T> Default for Combiner<T> {
    fn default() -> Self {
        Combiner { pipe: Mutex::new(Pipe::default()) }
    }
}

/// A panic caught in a role, resumed once the thread that ran it has its own outcome.
type Panic = Box<dyn std::any::Any + Send + 'static>;

impl<T: Clone> Combiner<T> {
    /// Queues `payloads` and returns their acknowledgement once a sync covering them returned.
    /// The calling thread may meanwhile write batches (`write`: payload bytes and their ends,
    /// written with one lock and one `write`; returns the batch's acknowledgement and what a
    /// sync of it needs) and sync them (`sync`), its own and other threads'.
    pub(crate) fn submit<'a, W, S>(
        &self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
        mut write: W,
        mut sync: S,
    ) -> Outcome
    where
        W: FnMut(&[u8], &[usize]) -> Result<(BatchAck, T), Error>,
        S: FnMut(&T) -> Result<(), Error>,
    {
        // (A thread appending from a thread-local destructor gets a slot of its own.)
        let slot = SLOT.try_with(Arc::clone).unwrap_or_default();
        slot.decided.store(false, Ordering::Relaxed);
        {
            let mut s = lock(&slot.state);
            s.outcome = None;
            s.nudged = false;
        }
        let mut panicked = None;
        let mut p = lock(&self.pipe);
        let start = p.ends.len();
        for payload in payloads {
            p.bytes.extend_from_slice(payload);
            let end = p.bytes.len();
            p.ends.push(end);
        }
        let count = p.ends.len() - start;
        p.queued.push(Member { slot: slot.clone(), start, count });
        if p.wake_gen != 0 && slot.acked_by.swap(0, Ordering::Relaxed) == p.wake_gen {
            p.returning = p.returning.saturating_sub(1);
        }
        let outcome = loop {
            if slot.decided.load(Ordering::Relaxed) {
                let taker = p.taker(&slot, Instant::now());
                drop(p);
                nudge(taker);
                break loop {
                    if let Some(outcome) = wait(&slot, None) {
                        break outcome;
                    }
                };
            }
            let now = Instant::now();
            match p.role(now) {
                Some(Role::Write) => {
                    p = self.write_batch(p, &mut write, &mut panicked);
                    continue;
                }
                Some(Role::Sync) => {
                    p = self.sync_batches(p, &mut sync, &mut panicked);
                    continue;
                }
                None => {}
            }
            let mut deadline = None;
            if p.needs_gatherer(now) {
                let gatherer = p.gatherer.get_or_insert_with(|| slot.clone());
                if Arc::ptr_eq(gatherer, &slot) {
                    deadline = p.gather_until;
                }
            }
            drop(p);
            if let Some(outcome) = wait(&slot, deadline) {
                // Decided while waiting (a batch it was in failed, say): hand on its role as a
                // decided thread does above, or a nudge meant for it wakes no one.
                let taker = lock(&self.pipe).taker(&slot, Instant::now());
                nudge(taker);
                break outcome;
            }
            p = lock(&self.pipe);
            if deadline.is_some_and(|d| Instant::now() >= d) && p.returning == p.gather_from {
                // Waited for threads none of which came back.
                p.gather_shift = (p.gather_shift + 1).min(MAX_GATHER_SHIFT);
            }
        };
        if let Some(panic) = panicked {
            resume_unwind(panic);
        }
        outcome
    }

    /// Writes the queued batch; the pipe's lock is released meanwhile.
    fn write_batch<'g, W>(
        &'g self,
        mut p: MutexGuard<'g, Pipe<T>>,
        write: &mut W,
        panicked: &mut Option<Panic>,
    ) -> MutexGuard<'g, Pipe<T>>
    where
        W: FnMut(&[u8], &[usize]) -> Result<(BatchAck, T), Error>,
    {
        p.writing = true;
        let spare_bytes = std::mem::take(&mut p.spare_bytes);
        let spare_ends = std::mem::take(&mut p.spare_ends);
        let spare_members = std::mem::take(&mut p.spare_members);
        let mut bytes = std::mem::replace(&mut p.bytes, spare_bytes);
        let mut ends = std::mem::replace(&mut p.ends, spare_ends);
        let mut members = std::mem::replace(&mut p.queued, spare_members);
        drop(p);
        let result = catch_unwind(AssertUnwindSafe(|| write(&bytes, &ends)));
        let mut p = lock(&self.pipe);
        p.writing = false;
        let mut delivery = std::mem::take(&mut p.spare_delivery);
        match result {
            Ok(Ok((batch, target))) => {
                p.last_written += 1;
                let ticket = p.last_written;
                p.latest = Some(target);
                for m in members.drain(..) {
                    let ack = member_ack(&batch, m.start, m.count);
                    p.written.push_back(Written { ticket, slot: m.slot, ack });
                }
            }
            Ok(Err(e)) => fail(&mut members, &mut delivery, |_| Some(e.duplicate())),
            Err(panic) => {
                fail(&mut members, &mut delivery, |_| None);
                *panicked = Some(panic);
            }
        }
        bytes.clear();
        ends.clear();
        p.spare_bytes = bytes;
        p.spare_ends = ends;
        p.spare_members = members;
        self.deliver(p, delivery)
    }

    /// Syncs every batch written so far; the pipe's lock is released meanwhile.
    fn sync_batches<'g, S>(
        &'g self,
        mut p: MutexGuard<'g, Pipe<T>>,
        sync: &mut S,
        panicked: &mut Option<Panic>,
    ) -> MutexGuard<'g, Pipe<T>>
    where
        S: FnMut(&T) -> Result<(), Error>,
    {
        p.syncing = true;
        p.gatherer = None;
        if p.returning == 0 {
            p.gather_shift = 0;
        }
        let covers = p.last_written;
        let target = p.latest.clone().expect("a written batch leaves a sync target");
        drop(p);
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| sync(&target)));
        let took = started.elapsed();
        let mut p = lock(&self.pipe);
        p.syncing = false;
        // Every batch up to `covers` is settled now: acknowledged, or failed.
        p.settled = covers;
        let mut delivery = std::mem::take(&mut p.spare_delivery);
        let error = match result {
            Ok(Ok(())) => {
                let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
                while let Some(w) = p.written.pop_front_if(|w| w.ticket <= covers) {
                    w.slot.decided.store(true, Ordering::Relaxed);
                    w.slot.acked_by.store(generation, Ordering::Relaxed);
                    delivery.push((w.slot, Ok(w.ack)));
                }
                p.returning = delivery.len();
                p.gather_from = delivery.len();
                p.wake_gen = generation;
                let gather = (took / (1 << p.gather_shift)).min(GATHER_MAX);
                p.gather_until = Some(Instant::now() + gather);
                None
            }
            Ok(Err(e)) => Some(Some(e)),
            Err(panic) => {
                *panicked = Some(panic);
                Some(None)
            }
        };
        if let Some(error) = error {
            while let Some(w) = p.written.pop_front_if(|w| w.ticket <= covers) {
                w.slot.decided.store(true, Ordering::Relaxed);
                delivery.push((w.slot, Err(error.as_ref().map(Error::duplicate))));
            }
        }
        self.deliver(p, delivery)
    }

    /// Hands each outcome to its thread, outside the pipe's lock, and takes the lock again.
    fn deliver<'g>(
        &'g self,
        p: MutexGuard<'g, Pipe<T>>,
        mut delivery: Vec<(Arc<Slot>, Outcome)>,
    ) -> MutexGuard<'g, Pipe<T>> {
        if delivery.is_empty() {
            let mut p = p;
            p.spare_delivery = delivery;
            return p;
        }
        drop(p);
        for (slot, outcome) in delivery.drain(..) {
            let mut s = lock(&slot.state);
            s.outcome = Some(outcome);
            let waiting = s.waiting;
            drop(s);
            if waiting {
                slot.woken.notify_one();
            }
        }
        let mut p = lock(&self.pipe);
        p.spare_delivery = delivery;
        p
    }
}

/// Fails every member of a batch that could not be written.
fn fail(
    members: &mut Vec<Member>,
    delivery: &mut Vec<(Arc<Slot>, Outcome)>,
    error: impl Fn(&Member) -> Option<Error>,
) {
    for m in members.drain(..) {
        m.slot.decided.store(true, Ordering::Relaxed);
        let e = error(&m);
        delivery.push((m.slot, Err(e)));
    }
}

/// The acknowledgement of the member whose payloads are `count` from `start` in the batch.
fn member_ack(batch: &BatchAck, start: usize, count: usize) -> BatchAck {
    if batch.duplicates.is_empty() {
        return BatchAck {
            first_seq: batch.first_seq + start as u64,
            count: count as u64,
            ts: batch.ts,
            duplicates: Vec::new(),
        };
    }
    let acks: Vec<_> = batch.acks().skip(start).take(count).collect();
    BatchAck::from_acks(&acks)
}

/// Waits on `slot` for its outcome, a nudge or the deadline; returns the outcome if it came.
fn wait(slot: &Slot, deadline: Option<Instant>) -> Option<Outcome> {
    let mut s = lock(&slot.state);
    loop {
        if let Some(outcome) = s.outcome.take() {
            return Some(outcome);
        }
        if std::mem::take(&mut s.nudged) {
            return None;
        }
        s.waiting = true;
        match deadline {
            None => s = slot.woken.wait(s).unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    s.waiting = false;
                    return None;
                }
                let left = deadline - now;
                s = slot.woken.wait_timeout(s, left).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
        s.waiting = false;
    }
}

/// Asks `slot`'s thread to look for a role to take.
fn nudge(slot: Option<Arc<Slot>>) {
    if let Some(slot) = slot {
        let mut s = lock(&slot.state);
        s.nudged = true;
        let waiting = s.waiting;
        drop(s);
        if waiting {
            slot.woken.notify_one();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    /// A member's seq from a one-payload acknowledgement.
    fn seq(outcome: Outcome) -> u64 {
        let ack = outcome.expect("acknowledged");
        assert_eq!(ack.count, 1);
        ack.first_seq
    }

    /// A log in memory: `write` gives seqs and returns the last one as the sync target; `sync`
    /// takes `pause` and raises `durable` to its target.
    #[derive(Default)]
    struct Model {
        next: AtomicU64,
        durable: AtomicU64,
        syncing: AtomicBool,
        writes: AtomicU64,
        writes_during_sync: AtomicU64,
        syncs: AtomicU64,
    }

    impl Model {
        fn write(&self, ends: &[usize]) -> Result<(BatchAck, u64), Error> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            // A write under the lock takes a moment: threads arriving meanwhile queue.
            std::thread::sleep(Duration::from_micros(50));
            if self.syncing.load(Ordering::SeqCst) {
                self.writes_during_sync.fetch_add(1, Ordering::SeqCst);
            }
            let n = ends.len() as u64;
            let first = self.next.fetch_add(n, Ordering::SeqCst) + 1;
            let ack = BatchAck { first_seq: first, count: n, ts: 0, duplicates: Vec::new() };
            Ok((ack, first + n - 1))
        }

        fn sync(&self, target: u64, pause: Duration) -> Result<(), Error> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            self.syncing.store(true, Ordering::SeqCst);
            std::thread::sleep(pause);
            self.syncing.store(false, Ordering::SeqCst);
            self.durable.fetch_max(target, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn members_share_writes_and_syncs_and_are_acknowledged_only_once_durable() {
        let combiner = Combiner::<u64>::default();
        let model = Model::default();
        let mut all: Vec<u64> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let (combiner, model) = (&combiner, &model);
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..100 {
                            let payload = format!("{t}:{i}");
                            let seq = seq(combiner.submit(
                                [payload.as_bytes()],
                                |_, ends| model.write(ends),
                                |&target| model.sync(target, Duration::from_micros(300)),
                            ));
                            // Never acknowledged before a sync covering it returned.
                            assert!(seq <= model.durable.load(Ordering::SeqCst), "seq {seq}");
                            mine.push(seq);
                        }
                        mine
                    })
                })
                .collect();
            threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
        });
        all.sort_unstable();
        assert_eq!(all, (1..=800).collect::<Vec<_>>(), "every payload got its own seq");
        let (writes, syncs) = (model.writes.into_inner(), model.syncs.into_inner());
        assert!(writes < 800 && syncs < 800, "{writes} writes, {syncs} syncs: nothing combined");
    }

    #[test]
    fn the_next_batch_is_written_while_the_current_one_syncs() {
        let combiner = Combiner::<u64>::default();
        let model = Model::default();
        let (b_written_tx, b_written) = std::sync::mpsc::channel::<()>();
        let b_written = Mutex::new(b_written);
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                combiner.submit(
                    [&b"a"[..]],
                    |_, ends| model.write(ends),
                    |&target| {
                        model.syncs.fetch_add(1, Ordering::SeqCst);
                        if target == 1 {
                            // A's sync is in flight until B's batch is written.
                            model.syncing.store(true, Ordering::SeqCst);
                            b_written.lock().unwrap().recv().unwrap();
                            model.syncing.store(false, Ordering::SeqCst);
                        }
                        model.durable.fetch_max(target, Ordering::SeqCst);
                        Ok(())
                    },
                )
            });
            while !model.syncing.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            let b = combiner.submit(
                [&b"b"[..]],
                |_, ends| {
                    let written = model.write(ends);
                    b_written_tx.send(()).unwrap();
                    written
                },
                |&target| model.sync(target, Duration::ZERO),
            );
            (seq(a.join().unwrap()), seq(b))
        });
        assert_eq!((a, b), (1, 2));
        assert_eq!(model.writes_during_sync.into_inner(), 1, "B was written during A's sync");
        assert_eq!(model.syncs.into_inner(), 2, "A's sync began before B's write: not covered");
        assert_eq!(model.durable.into_inner(), 2);
    }

    #[test]
    fn a_failed_sync_fails_exactly_the_members_it_covered() {
        let combiner = Combiner::<u64>::default();
        let model = Model::default();
        // Each sync's target and whether it succeeded, in order (syncs run one at a time).
        let syncs = Mutex::new(Vec::<(u64, bool)>::new());
        let outcomes: Vec<(u64, bool)> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let (combiner, model, syncs) = (&combiner, &model, &syncs);
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for _ in 0..60 {
                            let mut my_seq = 0;
                            let outcome = combiner.submit(
                                [&b"x"[..]],
                                |_, ends| {
                                    let (ack, last) = model.write(ends)?;
                                    Ok((ack, last))
                                },
                                |&target| {
                                    let mut log = syncs.lock().unwrap();
                                    // Every fifth sync fails.
                                    let ok = log.len() % 5 != 3;
                                    log.push((target, ok));
                                    drop(log);
                                    std::thread::sleep(Duration::from_micros(200));
                                    if ok {
                                        model.durable.fetch_max(target, Ordering::SeqCst);
                                        Ok(())
                                    } else {
                                        Err(Error::invalid_argument("injected EIO"))
                                    }
                                },
                            );
                            let ok = match outcome {
                                Ok(ack) => {
                                    my_seq = ack.first_seq;
                                    true
                                }
                                Err(e) => {
                                    assert!(e.is_some_and(|e| e.to_string().contains("EIO")));
                                    false
                                }
                            };
                            mine.push((my_seq, ok));
                        }
                        mine
                    })
                })
                .collect();
            threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
        });
        let syncs = syncs.into_inner().unwrap();
        assert!(syncs.iter().any(|s| !s.1), "no sync failed");
        let failed = outcomes.iter().filter(|o| !o.1).count();
        assert!(failed > 0);
        // An acknowledged seq: the first sync whose target reaches it succeeded.
        for &(seq, ok) in outcomes.iter().filter(|o| o.1) {
            let first = syncs.iter().find(|s| s.0 >= seq).expect("a sync covered it");
            assert!(ok && first.1, "seq {seq} acknowledged, but the sync covering it failed");
        }
        // Every seq given out was either acknowledged or fell in a failed sync's range.
        let written = model.next.load(Ordering::SeqCst);
        let acked: std::collections::HashSet<u64> =
            outcomes.iter().filter(|o| o.1).map(|o| o.0).collect();
        for seq in 1..=written {
            let first = syncs.iter().find(|s| s.0 >= seq).expect("a sync covered it");
            assert_eq!(acked.contains(&seq), first.1, "seq {seq}");
        }
        assert_eq!(acked.len() + failed, 360);
    }

    #[test]
    fn a_gatherer_whose_batch_fails_while_it_waits_hands_on_its_role() {
        // Three threads acknowledged by one sync come back: the first waits for the others
        // (the gatherer), the last one's return ends the gather and it writes all three.
        // While that write runs, Z queues and the gatherer's deadline passes. The write fails:
        // the gatherer, decided, must wake Z (or leave the role to it), not just leave.
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let combiner = Combiner::<u64>::default();
            let model = Model::default();
            let writes = AtomicU64::new(0);
            let (writing_tx, writing) = std::sync::mpsc::channel::<()>();
            let (release_tx, release) = std::sync::mpsc::channel::<()>();
            let (writing_tx, release) = (Mutex::new(writing_tx), Mutex::new(release));
            let write = |ends: &[usize]| -> Result<(BatchAck, u64), Error> {
                match writes.fetch_add(1, Ordering::SeqCst) {
                    // The first batch is written while the other two queue.
                    0 => std::thread::sleep(Duration::from_millis(30)),
                    // The first batch after the three came back: held, then failed.
                    2 => {
                        writing_tx.lock().unwrap().send(()).unwrap();
                        release.lock().unwrap().recv().unwrap();
                        return Err(Error::invalid_argument("injected ENOSPC"));
                    }
                    _ => {}
                }
                model.write(ends)
            };
            std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        for _ in 0..2 {
                            let _ = combiner.submit(
                                [&b"x"[..]],
                                |_, ends| write(ends),
                                |&t| model.sync(t, Duration::from_millis(5)),
                            );
                        }
                    });
                }
                if writing.recv_timeout(Duration::from_secs(10)).is_ok() {
                    s.spawn(|| {
                        let _ = combiner.submit(
                            [&b"z"[..]],
                            |_, ends| write(ends),
                            |&t| model.sync(t, Duration::ZERO),
                        );
                    });
                    std::thread::sleep(Duration::from_millis(30));
                }
                release_tx.send(()).unwrap();
            });
            done_tx.send(()).unwrap();
        });
        assert!(done.recv_timeout(Duration::from_secs(30)).is_ok(), "a member still waits");
    }

    #[test]
    fn a_panic_fails_its_batch_and_the_next_submitter_is_not_stuck() {
        let combiner = Combiner::<u64>::default();
        let ok =
            |first| Ok((BatchAck { first_seq: first, count: 1, ts: 0, duplicates: vec![] }, 0));
        let err =
            combiner.submit([&b"x"[..]], |_, _| Err(Error::invalid_argument("eio")), |_| Ok(()));
        assert!(err.unwrap_err().is_some_and(|e| e.to_string().contains("eio")));
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            combiner.submit([&b"y"[..]], |_, _| panic!("boom"), |_| Ok(()))
        }));
        assert!(panicked.is_err(), "the panic reaches the thread that ran the write");
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            combiner.submit([&b"y"[..]], |_, _| ok(5), |_| panic!("boom"))
        }));
        assert!(panicked.is_err(), "the panic reaches the thread that ran the sync");
        let acked = combiner.submit([&b"z"[..]], |_, _| ok(9), |_| Ok(()));
        assert_eq!(seq(acked), 9);
    }
}
