//! Timing several workloads interleaved (round-robin), with warm-up.
//!
//! Workloads timed in the same rounds see the same machine state (a
//! neighbour's burst of work, a frequency change), so their times stay
//! comparable when absolute times drift within a run. device-bench times a
//! model against its calibration workload this way, the δ sweep its
//! models, and latency-lut one workload at a time (one workload is just a
//! plain warm-up-then-repeat loop).

use std::convert::Infallible;
use std::time::Instant;

/// How the rounds of [`interleaved`] are laid out.
///
/// Each round gives every workload, in order, one *turn*: `turn_warmup`
/// untimed calls, then `turn_timed` kept calls. The first `warmup_rounds`
/// rounds are dropped whole; `rounds` rounds are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub warmup_rounds: usize,
    pub rounds: usize,
    pub turn_warmup: usize,
    pub turn_timed: usize,
}

impl Schedule {
    /// One call per workload and round: `warmup` dropped rounds, then
    /// `repeats` kept ones.
    pub fn alternating(warmup: usize, repeats: usize) -> Self {
        Self {
            warmup_rounds: warmup,
            rounds: repeats,
            turn_warmup: 0,
            turn_timed: 1,
        }
    }

    /// Kept samples per workload.
    pub fn samples(&self) -> usize {
        self.rounds * self.turn_timed
    }
}

/// Calls every workload (a closure returning one time in milliseconds) as
/// `schedule` lays out and returns each workload's kept times, in call
/// order. Stops at the first error.
pub fn interleaved<E>(
    workloads: &mut [&mut dyn FnMut() -> Result<f64, E>],
    schedule: Schedule,
) -> Result<Vec<Vec<f64>>, E> {
    let mut out: Vec<Vec<f64>> = workloads
        .iter()
        .map(|_| Vec::with_capacity(schedule.samples()))
        .collect();
    for round in 0..schedule.warmup_rounds + schedule.rounds {
        let keep = round >= schedule.warmup_rounds;
        for (workload, times) in workloads.iter_mut().zip(&mut out) {
            for call in 0..schedule.turn_warmup + schedule.turn_timed {
                let ms = workload()?;
                if keep && call >= schedule.turn_warmup {
                    times.push(ms);
                }
            }
        }
    }
    Ok(out)
}

/// `warmup` untimed calls of one workload, then the times of `repeats`.
pub fn repeat<E>(
    warmup: usize,
    repeats: usize,
    workload: &mut dyn FnMut() -> Result<f64, E>,
) -> Result<Vec<f64>, E> {
    let mut times = interleaved(&mut [workload], Schedule::alternating(warmup, repeats))?;
    Ok(times.pop().expect("one workload"))
}

/// A workload that times `f` itself, wall clock, in milliseconds (for code
/// that has no timer of its own, such as a burn forward pass).
pub fn stopwatch(mut f: impl FnMut()) -> impl FnMut() -> Result<f64, Infallible> {
    move || {
        let start = Instant::now();
        f();
        Ok(start.elapsed().as_secs_f64() * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workload returning 1, 2, 3… and logging its name per call.
    fn counter<'a>(
        name: char,
        log: &'a std::cell::RefCell<String>,
    ) -> impl FnMut() -> Result<f64, Infallible> + 'a {
        let mut n = 0.0;
        move || {
            n += 1.0;
            log.borrow_mut().push(name);
            Ok(n)
        }
    }

    #[test]
    fn rounds_alternate_and_drop_the_warmup() {
        let log = std::cell::RefCell::new(String::new());
        let (mut a, mut b) = (counter('a', &log), counter('b', &log));
        let times = interleaved(&mut [&mut a, &mut b], Schedule::alternating(2, 3)).unwrap();
        assert_eq!(log.borrow().as_str(), "ababababab");
        assert_eq!(times, vec![vec![3.0, 4.0, 5.0]; 2]);
    }

    #[test]
    fn turns_have_their_own_warmup() {
        let log = std::cell::RefCell::new(String::new());
        let (mut a, mut b) = (counter('a', &log), counter('b', &log));
        let schedule = Schedule {
            warmup_rounds: 1,
            rounds: 2,
            turn_warmup: 1,
            turn_timed: 2,
        };
        let times = interleaved(&mut [&mut a, &mut b], schedule).unwrap();
        assert_eq!(log.borrow().as_str(), "aaabbbaaabbbaaabbb");
        assert_eq!(times, vec![vec![5.0, 6.0, 8.0, 9.0]; 2]);
    }

    #[test]
    fn repeat_is_warmup_then_repeats() {
        let log = std::cell::RefCell::new(String::new());
        let times = repeat(3, 2, &mut counter('a', &log)).unwrap();
        assert_eq!(times, vec![4.0, 5.0]);
        let mut calls = 0;
        let times = repeat(1, 4, &mut stopwatch(|| calls += 1)).unwrap();
        assert_eq!((times.len(), calls), (4, 5));
        assert!(times.iter().all(|t| *t >= 0.0));
    }

    #[test]
    fn errors_stop_the_rounds() {
        let mut n = 0;
        let mut failing = || {
            n += 1;
            if n == 3 { Err("third call") } else { Ok(1.0) }
        };
        assert_eq!(repeat(1, 5, &mut failing), Err("third call"));
        assert_eq!(n, 3);
    }
}
