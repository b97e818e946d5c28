//! A compressed sparse row matrix: the user×item interaction matrix the solvers and top-k read.

use crate::interactions::Interaction;

/// Rows are users (or items, for the transpose); each row's column indices are sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csr {
    /// Row `r` spans `indices[indptr[r]..indptr[r + 1]]`.
    pub indptr: Vec<usize>,
    /// Column index of each stored entry.
    pub indices: Vec<u32>,
    /// Value of each stored entry.
    pub values: Vec<f32>,
    /// Number of columns.
    pub ncols: usize,
}

impl Csr {
    /// Builds a user×item matrix from interactions; duplicate (row, col) entries are summed.
    pub fn from_interactions(records: &[Interaction], nrows: usize, ncols: usize) -> Csr {
        Self::from_triplets(
            records.iter().map(|r| (r.user, r.item, r.rating as f32)),
            nrows,
            ncols,
        )
    }

    /// Builds a matrix from (row, column, value) triplets by counting sort (O(nnz + nrows)).
    pub fn from_triplets<I: Iterator<Item = (u32, u32, f32)> + Clone>(
        triplets: I,
        nrows: usize,
        ncols: usize,
    ) -> Csr {
        let mut counts = vec![0usize; nrows + 1];
        for (r, _, _) in triplets.clone() {
            counts[r as usize + 1] += 1;
        }
        for i in 0..nrows {
            counts[i + 1] += counts[i];
        }
        let nnz = counts[nrows];
        let mut next = counts.clone();
        let mut indices = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
        for (r, c, v) in triplets {
            let slot = next[r as usize];
            indices[slot] = c;
            values[slot] = v;
            next[r as usize] += 1;
        }
        let mut m = Csr {
            indptr: counts,
            indices,
            values,
            ncols,
        };
        m.sort_and_merge_rows();
        m
    }

    fn sort_and_merge_rows(&mut self) {
        let mut out_ptr = Vec::with_capacity(self.indptr.len());
        out_ptr.push(0);
        let mut w = 0;
        let mut pairs: Vec<(u32, f32)> = Vec::new();
        for r in 0..self.nrows() {
            pairs.clear();
            pairs.extend(
                (self.indptr[r]..self.indptr[r + 1]).map(|k| (self.indices[k], self.values[k])),
            );
            pairs.sort_unstable_by_key(|p| p.0);
            let mut last: Option<u32> = None;
            for &(c, v) in &pairs {
                if last == Some(c) {
                    self.values[w - 1] += v;
                } else {
                    self.indices[w] = c;
                    self.values[w] = v;
                    w += 1;
                    last = Some(c);
                }
            }
            out_ptr.push(w);
        }
        self.indices.truncate(w);
        self.values.truncate(w);
        self.indptr = out_ptr;
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// Every stored (row, column) pair, row by row.
    pub fn pairs(&self) -> Vec<(u32, u32)> {
        (0..self.nrows())
            .flat_map(|r| self.row(r).0.iter().map(move |&c| (r as u32, c)))
            .collect()
    }

    /// The transpose (item×user from user×item).
    pub fn transpose(&self) -> Csr {
        // Counting sort by column: scanning rows in order leaves every column's entries in
        // ascending row order, so nothing needs sorting afterwards.
        let mut indptr = vec![0usize; self.ncols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..self.ncols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.nrows() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr {
            indptr,
            indices,
            values,
            ncols: self.nrows(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_sorted_rows_and_transposes() {
        let m = Csr::from_triplets(
            [(1u32, 2u32, 5.0f32), (0, 1, 1.0), (1, 0, 3.0), (1, 2, 1.0)].into_iter(),
            3,
            3,
        );
        assert_eq!(m.row(0), (&[1u32][..], &[1.0f32][..]));
        assert_eq!(m.row(1), (&[0u32, 2][..], &[3.0f32, 6.0][..]));
        assert_eq!(m.row(2).0.len(), 0);
        let t = m.transpose();
        assert_eq!(t.row(2), (&[1u32][..], &[6.0f32][..]));
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn transpose_matches_building_from_swapped_triplets() {
        // A fixed pseudo-random pattern with empty rows and columns.
        let triplets: Vec<(u32, u32, f32)> = (0..500u32)
            .map(|j| ((j * 7919) % 61, (j * 104_729) % 47, j as f32))
            .filter(|&(r, c, _)| r % 5 != 3 && c % 7 != 2)
            .collect();
        let m = Csr::from_triplets(triplets.iter().copied(), 64, 50);
        let want = Csr::from_triplets(
            (0..m.nrows()).flat_map(|r| {
                let (c, v) = m.row(r);
                c.iter().zip(v).map(move |(&c, &v)| (c, r as u32, v))
            }),
            50,
            64,
        );
        assert_eq!(m.transpose(), want);
    }
}
