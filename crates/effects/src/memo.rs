//! A per-run memo of answers keyed by something immutable (a commit SHA, a pull request number
//! and its head, a user principal name): the first caller of a key fetches it, every concurrent
//! caller of the same key waits for that one fetch, and callers of other keys run in parallel.
//! No lock is held across a fetch. An error is not remembered: the next caller tries again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Answers by key, each fetched at most once while it succeeds.
#[derive(Debug)]
pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Memo<K, V> {
    /// The answer for `key`: remembered, or fetched by `fetch` (once, whoever asks at the same
    /// time). An error goes to this caller only and is not remembered.
    pub async fn get_or_try<E, F, Fut>(&self, key: &K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key.clone()).or_default().clone()
        };
        cell.get_or_try_init(fetch).await.cloned()
    }

    /// The remembered answer for `key`, if one was fetched.
    pub fn get(&self, key: &K) -> Option<V> {
        let cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        cells.get(key).and_then(|c| c.get().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_fetch_and_errors_are_not_kept() {
        let memo: Memo<&str, u32> = Memo::default();
        let fetches = AtomicUsize::new(0);
        let fetch = |v: u32| {
            let fetches = &fetches;
            move || async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok::<_, String>(v)
            }
        };
        let (a, b, c) = tokio::join!(
            memo.get_or_try(&"x", fetch(1)),
            memo.get_or_try(&"x", fetch(2)),
            memo.get_or_try(&"y", fetch(3)),
        );
        assert_eq!((a, b, c), (Ok(1), Ok(1), Ok(3)));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        let failed = memo
            .get_or_try(&"z", || async { Err::<u32, _>("down".to_owned()) })
            .await;
        assert_eq!(failed, Err("down".to_owned()));
        assert_eq!(memo.get(&"z"), None);
        assert_eq!(memo.get_or_try(&"z", fetch(4)).await, Ok(4));
        assert_eq!(memo.get(&"x"), Some(1));
    }
}
