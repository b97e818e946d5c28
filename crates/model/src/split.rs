//! Train/test splitters with the semantics of Microsoft Recommenders' `python_splitters`
//! (version 1.2.1), down to the random stream: with the same rows in the same order and the
//! same seed, each splitter here returns exactly the rows Recommenders returns.
//!
//! - [`SplitMethod::Random`]: `python_random_split` (scikit-learn's `train_test_split`):
//!   `floor(ratio * n)` rows chosen by a seeded permutation go to train.
//! - [`SplitMethod::Stratified`]: `python_stratified_split`: per user (or item, with
//!   [`FilterBy::Item`]) the first `round(ratio * count)` rows in a seeded random order go to
//!   train, so every group appears on both sides where it has enough rows.
//! - [`SplitMethod::Chrono`]: `python_chrono_split`: as stratified, ordered by timestamp,
//!   so each user's oldest interactions train and newest test.
//!
//! Rounding is Python's (half to even): a user with 2 ratings at ratio 0.75 keeps both in train.

use crate::interactions::Ratings;
use crate::numpy_rng::NumpyRandomState;

/// How rows are assigned to train and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMethod {
    /// Uniformly random over all rows.
    Random,
    /// Random within each user (or item).
    Stratified,
    /// Oldest first within each user (or item).
    Chrono,
}

/// Which column stratified and chronological splits group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterBy {
    /// Group by user (Recommenders' default).
    #[default]
    User,
    /// Group by item.
    Item,
}

/// Parameters of a split.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitParams {
    /// Method.
    pub method: SplitMethod,
    /// Share of rows that go to train, strictly between 0 and 1.
    pub ratio: f64,
    /// Seed of numpy's MT19937 stream (ignored by chrono).
    pub seed: u32,
    /// Grouping column for stratified and chrono.
    pub filter_by: FilterBy,
    /// Groups with fewer rows are dropped first (stratified and chrono only; 1 keeps all).
    pub min_rating: usize,
}

/// In words, as reports and metrics name a split: "stratified by user, 75% train, seed 42".
impl std::fmt::Display for SplitParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let method = match self.method {
            SplitMethod::Random => "random",
            SplitMethod::Stratified => "stratified",
            SplitMethod::Chrono => "chronological",
        };
        let by = match self.filter_by {
            FilterBy::User => "user",
            FilterBy::Item => "item",
        };
        match self.method {
            SplitMethod::Random => write!(f, "{method}")?,
            _ => write!(f, "{method} by {by}")?,
        }
        // The ratio as typed: 0.75 shows as 75%, 0.333 as 33.3%.
        let pct = format!("{:.3}", self.ratio * 100.0);
        let pct = pct.trim_end_matches('0').trim_end_matches('.');
        write!(f, ", {pct}% train")?;
        if self.method != SplitMethod::Chrono {
            write!(f, ", seed {}", self.seed)?;
        }
        if self.min_rating > 1 && self.method != SplitMethod::Random {
            write!(f, ", groups under {} rows dropped", self.min_rating)?;
        }
        Ok(())
    }
}

impl Default for SplitParams {
    fn default() -> Self {
        Self {
            method: SplitMethod::Stratified,
            ratio: 0.75,
            seed: 42,
            filter_by: FilterBy::User,
            min_rating: 1,
        }
    }
}

/// Why a split could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SplitError {
    /// Ratio outside (0, 1).
    #[error("split ratio must be strictly between 0 and 1, got {0}")]
    Ratio(f64),
    /// `min_rating` of 0.
    #[error("min-rating must be at least 1")]
    MinRating,
    /// Chronological split of data without timestamps.
    #[error("a chronological split needs timestamps, and the input has none")]
    NoTimestamps,
    /// One side would be empty.
    #[error(
        "the split leaves the {0} set empty ({1} rows in all); use more data or another ratio"
    )]
    EmptySide(&'static str, usize),
}

/// Row indices (into `Ratings::records`) of each side, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Training rows.
    pub train: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits `ratings` according to `params`.
pub fn split(ratings: &Ratings, params: &SplitParams) -> Result<Split, SplitError> {
    if !(params.ratio > 0.0 && params.ratio < 1.0) {
        return Err(SplitError::Ratio(params.ratio));
    }
    if params.min_rating < 1 {
        return Err(SplitError::MinRating);
    }
    let n = ratings.records.len();
    let mut split = match params.method {
        SplitMethod::Random => random_split(n, params.ratio, params.seed),
        SplitMethod::Stratified | SplitMethod::Chrono => {
            if params.method == SplitMethod::Chrono && !ratings.has_timestamps {
                return Err(SplitError::NoTimestamps);
            }
            stratified_split(ratings, params)
        }
    };
    split.train.sort_unstable();
    split.test.sort_unstable();
    if split.train.is_empty() {
        return Err(SplitError::EmptySide("train", n));
    }
    if split.test.is_empty() {
        return Err(SplitError::EmptySide("test", n));
    }
    Ok(split)
}

/// scikit-learn's `ShuffleSplit` with `train_size=ratio`: test takes the permutation's head.
fn random_split(n: usize, ratio: f64, seed: u32) -> Split {
    let n_train = (ratio * n as f64).floor() as usize;
    let n_test = n - n_train;
    let perm = NumpyRandomState::new(seed).permutation(n);
    Split {
        test: perm[..n_test].to_vec(),
        train: perm[n_test..].to_vec(),
    }
}

fn stratified_split(ratings: &Ratings, params: &SplitParams) -> Split {
    let key = |row: usize| -> u32 {
        let r = &ratings.records[row];
        match params.filter_by {
            FilterBy::User => r.user,
            FilterBy::Item => r.item,
        }
    };
    let groups = match params.filter_by {
        FilterBy::User => ratings.users.len(),
        FilterBy::Item => ratings.items.len(),
    };
    let mut count = vec![0usize; groups];
    for row in 0..ratings.records.len() {
        count[key(row) as usize] += 1;
    }
    // Recommenders drops small groups before drawing random numbers, so draw only for kept rows.
    let kept: Vec<usize> = (0..ratings.records.len())
        .filter(|&row| count[key(row) as usize] >= params.min_rating)
        .collect();
    let order_key: Vec<f64> = match params.method {
        SplitMethod::Chrono => kept
            .iter()
            .map(|&row| ratings.records[row].timestamp as f64)
            .collect(),
        _ => {
            let mut rng = NumpyRandomState::new(params.seed);
            kept.iter().map(|_| rng.random_sample()).collect()
        }
    };
    let mut order: Vec<usize> = (0..kept.len()).collect();
    // Stable: equal timestamps keep input order.
    order.sort_by(|&a, &b| {
        key(kept[a])
            .cmp(&key(kept[b]))
            .then(order_key[a].total_cmp(&order_key[b]))
    });
    let mut split = Split {
        train: Vec::with_capacity(kept.len()),
        test: Vec::new(),
    };
    let mut start = 0;
    while start < order.len() {
        let group = key(kept[order[start]]);
        let mut end = start;
        while end < order.len() && key(kept[order[end]]) == group {
            end += 1;
        }
        let size = end - start;
        let cut = (params.ratio * size as f64).round_ties_even() as usize;
        for (rank, &o) in order[start..end].iter().enumerate() {
            if rank < cut {
                split.train.push(kept[o]);
            } else {
                split.test.push(kept[o]);
            }
        }
        start = end;
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{read_ratings_str, ReadOptions};

    fn data(users: usize, per_user: usize) -> Ratings {
        let mut text = String::new();
        for u in 0..users {
            for j in 0..per_user + u % 3 {
                text += &format!(
                    "u{u}\ti{}\t{}\t{}\n",
                    (u * 7 + j * 3) % 50,
                    1 + j % 5,
                    1000 + j * 10 + u
                );
            }
        }
        read_ratings_str(&text, "t", &ReadOptions::default())
            .unwrap()
            .0
    }

    #[test]
    fn sides_partition_the_rows() {
        let r = data(30, 8);
        for method in [
            SplitMethod::Random,
            SplitMethod::Stratified,
            SplitMethod::Chrono,
        ] {
            let s = split(
                &r,
                &SplitParams {
                    method,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..r.len()).collect::<Vec<_>>(), "{method:?}");
        }
    }

    #[test]
    fn random_takes_floor_of_ratio() {
        let r = data(10, 5); // 10*5 + extra rows
        let s = split(
            &r,
            &SplitParams {
                method: SplitMethod::Random,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.train.len(), (0.75 * r.len() as f64).floor() as usize);
    }

    #[test]
    fn stratified_keeps_each_user_on_both_sides_with_python_rounding() {
        let r = data(30, 8);
        let s = split(&r, &SplitParams::default()).unwrap();
        for u in 0..r.users.len() as u32 {
            let total = r.records.iter().filter(|x| x.user == u).count();
            let train = s.train.iter().filter(|&&i| r.records[i].user == u).count();
            assert_eq!(train, (0.75 * total as f64).round_ties_even() as usize);
            assert!(train > 0 && train < total);
        }
        // 2 rows at 0.75 -> 1.5 -> 2 (half to even); 6 rows -> 4.5 -> 4.
        assert_eq!((0.75f64 * 2.0).round_ties_even(), 2.0);
        assert_eq!((0.75f64 * 6.0).round_ties_even(), 4.0);
    }

    #[test]
    fn chrono_puts_newest_in_test() {
        let r = data(20, 8);
        let s = split(
            &r,
            &SplitParams {
                method: SplitMethod::Chrono,
                ..Default::default()
            },
        )
        .unwrap();
        for u in 0..r.users.len() as u32 {
            let newest_train = s
                .train
                .iter()
                .filter(|&&i| r.records[i].user == u)
                .map(|&i| r.records[i].timestamp)
                .max();
            let oldest_test = s
                .test
                .iter()
                .filter(|&&i| r.records[i].user == u)
                .map(|&i| r.records[i].timestamp)
                .min();
            assert!(newest_train < oldest_test);
        }
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let r = data(30, 8);
        let p = SplitParams::default();
        assert_eq!(split(&r, &p).unwrap(), split(&r, &p).unwrap());
        assert_ne!(
            split(&r, &p).unwrap(),
            split(&r, &SplitParams { seed: 7, ..p }).unwrap()
        );
    }

    #[test]
    fn min_rating_drops_small_groups() {
        let r = data(30, 8); // users have 8, 9 or 10 rows
        let s = split(
            &r,
            &SplitParams {
                min_rating: 10,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.train.len() + s.test.len(), 10 * 10);
    }

    #[test]
    fn bad_params_are_errors() {
        let r = data(3, 4);
        assert_eq!(
            split(
                &r,
                &SplitParams {
                    ratio: 1.0,
                    ..Default::default()
                }
            ),
            Err(SplitError::Ratio(1.0))
        );
        let no_time = read_ratings_str("a\tb\t1\nc\td\t2\n", "t", &ReadOptions::default())
            .unwrap()
            .0;
        assert_eq!(
            split(
                &no_time,
                &SplitParams {
                    method: SplitMethod::Chrono,
                    ..Default::default()
                }
            ),
            Err(SplitError::NoTimestamps)
        );
    }
}
