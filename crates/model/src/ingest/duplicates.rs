//! The duplicate policy: what happens when a (user, item) pair appears on several rows.

use super::*;

/// Applies the duplicate policy after reading: groups records by user (counting sort), sorts
/// each user's few records by item and folds equal neighbours: linear work plus small sorts,
/// and no hash map over all pairs. The first occurrence keeps its position; returns how many
/// rows were folded away.
pub(super) fn resolve_duplicates(
    ratings: &mut Ratings,
    lines: &[u64],
    policy: DuplicatePolicy,
    source_name: &str,
) -> Result<usize, IngestError> {
    use rayon::prelude::*;
    let n_users = ratings.users.len();
    let mut start = vec![0usize; n_users + 1];
    for r in &ratings.records {
        start[r.user as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    // (item, position) grouped by user, positions ascending within a group: the groups are
    // then sorted without touching the records again.
    let mut next = start.clone();
    let mut by_user = vec![(0u32, 0u32); ratings.records.len()];
    for (pos, r) in ratings.records.iter().enumerate() {
        by_user[next[r.user as usize]] = (r.item, pos as u32);
        next[r.user as usize] += 1;
    }
    let mut groups: Vec<&mut [(u32, u32)]> = Vec::with_capacity(n_users);
    let mut rest = &mut by_user[..];
    for u in 0..n_users {
        let (group, tail) = rest.split_at_mut(start[u + 1] - start[u]);
        groups.push(group);
        rest = tail;
    }
    // Runs of one (user, item) pair: the first position and the later ones, in file order.
    let runs: Vec<(usize, Vec<usize>)> = groups
        .into_par_iter()
        .filter(|g| g.len() > 1)
        .flat_map_iter(|group| {
            group.sort_unstable();
            let mut found = Vec::new();
            let mut a = 0;
            while a < group.len() {
                let mut b = a + 1;
                while b < group.len() && group[b].0 == group[a].0 {
                    b += 1;
                }
                if b - a > 1 {
                    let later = group[a + 1..b].iter().map(|&(_, p)| p as usize).collect();
                    found.push((group[a].1 as usize, later));
                }
                a = b;
            }
            found
        })
        .collect();
    let mut removed = vec![false; ratings.records.len()];
    let mut folded = 0;
    let mut first_error: Option<(u64, u64, u32, u32)> = None;
    for (first, later) in runs {
        folded += later.len();
        match policy {
            DuplicatePolicy::Last => {
                let last = ratings.records[*later.last().unwrap()];
                ratings.records[first].rating = last.rating;
                ratings.records[first].timestamp = last.timestamp;
            }
            DuplicatePolicy::First => {}
            DuplicatePolicy::Sum => {
                for &p in &later {
                    let r = ratings.records[p];
                    ratings.records[first].rating += r.rating;
                    ratings.records[first].timestamp =
                        ratings.records[first].timestamp.max(r.timestamp);
                }
            }
            DuplicatePolicy::Error => {
                let r = ratings.records[first];
                let candidate = (lines[later[0]], lines[first], r.user, r.item);
                if first_error.is_none_or(|e| candidate.0 < e.0) {
                    first_error = Some(candidate);
                }
            }
        }
        for p in later {
            removed[p] = true;
        }
    }
    if let Some((line, first_line, user, item)) = first_error {
        return Err(IngestError::Duplicate {
            source_name: source_name.to_owned(),
            line: line as usize,
            first_line: first_line as usize,
            user: ratings.users.id(user).to_owned(),
            item: ratings.items.id(item).to_owned(),
        });
    }
    if folded > 0 {
        let mut keep = removed.iter().map(|r| !r);
        ratings.records.retain(|_| keep.next().unwrap());
    }
    Ok(folded)
}
