//! Thread pools for the batch entry points: one rayon pool per thread count, created on first
//! use and rebuilt in a forked child (a pool's worker threads do not survive `fork`; the child
//! leaks the parent's pools instead of touching them).

use crate::error::VerifyError;
use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, Mutex};

pub const THREADS_ENV: &str = "PRL_VERIFY_THREADS";

struct Pools {
    pid: u32,
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static POOLS: Mutex<Option<Pools>> = Mutex::new(None);

/// `threads`, else `PRL_VERIFY_THREADS`, else the number of available cores.
pub fn resolve_threads(threads: Option<usize>) -> Result<usize, VerifyError> {
    if let Some(t) = threads {
        if t == 0 {
            return Err(VerifyError::InvalidArgument("threads must be >= 1 (or None for all cores)".into()));
        }
        return Ok(t);
    }
    if let Ok(v) = std::env::var(THREADS_ENV) {
        let v = v.trim();
        if !v.is_empty() {
            return match v.parse::<usize>() {
                Ok(t) if t >= 1 => Ok(t),
                _ => Err(VerifyError::InvalidArgument(format!("{THREADS_ENV}={v:?} is not a positive integer"))),
            };
        }
    }
    Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn pool(threads: usize) -> Result<Arc<ThreadPool>, VerifyError> {
    let pid = std::process::id();
    let mut guard = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|p| p.pid != pid) {
        if let Some(old) = guard.take() {
            // forked child: the parent's worker threads are gone; never join or drop them here
            std::mem::forget(old);
        }
        *guard = Some(Pools { pid, pools: Vec::new() });
    }
    let pools = guard.as_mut().unwrap();
    if let Some((_, p)) = pools.pools.iter().find(|(n, _)| *n == threads) {
        return Ok(p.clone());
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("prl-verify-{i}"))
        .stack_size(16 << 20)
        .build()
        .map_err(|e| VerifyError::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
    let p = Arc::new(p);
    pools.pools.push((threads, p.clone()));
    Ok(p)
}

/// `(0..n).map(f)` on `threads` threads, in order.
pub fn map_indexed<T: Send, F: Fn(usize) -> T + Sync + Send>(
    n: usize,
    threads: Option<usize>,
    f: F,
) -> Result<Vec<T>, VerifyError> {
    let t = resolve_threads(threads)?;
    if t <= 1 || n < 16 {
        return Ok((0..n).map(f).collect());
    }
    let p = pool(t)?;
    Ok(p.install(|| (0..n).into_par_iter().with_min_len(4).map(&f).collect()))
}
