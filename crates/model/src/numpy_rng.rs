//! numpy's legacy `RandomState` stream (MT19937), reproduced so that `--seed 42` gives the
//! very split Microsoft Recommenders' `python_*_split(seed=42)` gives on the same rows.
//!
//! Only what the splitters use: `np.random.seed(s)` (`init_genrand`), `np.random.rand`
//! (53-bit doubles from two 32-bit draws) and `RandomState.permutation` (Fisher-Yates with
//! masked rejection sampling, as `legacy` numpy does).

const N: usize = 624;
const M: usize = 397;

/// Mersenne Twister MT19937 seeded like `numpy.random.RandomState(seed)` with an integer seed.
#[derive(Clone)]
pub struct NumpyRandomState {
    state: [u32; N],
    pos: usize,
}

impl NumpyRandomState {
    /// `RandomState(seed)`; numpy accepts seeds in `0..2^32`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            state[i] = 1812433253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, pos: N }
    }

    fn regenerate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % N] & LOWER);
            let mut v = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 == 1 {
                v ^= MATRIX_A;
            }
            self.state[i] = v;
        }
        self.pos = 0;
    }

    /// The next raw 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `np.random.rand()`: a double in [0, 1) with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) / 9007199254740992.0
    }

    /// A uniform integer in `0..=max` by masked rejection, as numpy's legacy `random_interval`.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        if max <= 0xffff_ffff {
            loop {
                let v = (self.next_u32() as u64) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let hi = self.next_u32() as u64;
            let lo = self.next_u32() as u64;
            let v = ((hi << 32) | lo) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `RandomState.permutation(n)`: a shuffled `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u64) as usize;
            v.swap(i, j);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values printed by numpy 1.26: `np.random.seed(42); np.random.rand(3)`.
    #[test]
    fn matches_numpy_rand_for_seed_42() {
        let mut rng = NumpyRandomState::new(42);
        let got: Vec<f64> = (0..3).map(|_| rng.random_sample()).collect();
        let want = [0.3745401188473625, 0.9507143064099162, 0.7319939418114051];
        assert_eq!(got, want);
    }

    /// `np.random.RandomState(42).permutation(10)` in numpy 1.26.
    #[test]
    fn matches_numpy_permutation_for_seed_42() {
        let mut rng = NumpyRandomState::new(42);
        assert_eq!(rng.permutation(10), vec![8, 1, 5, 0, 7, 2, 9, 4, 3, 6]);
    }

    /// The reference MT19937 output for `init_genrand(5489)` (the generator's default seed).
    #[test]
    fn matches_reference_mt19937() {
        let mut rng = NumpyRandomState::new(5489);
        assert_eq!(rng.next_u32(), 3499211612);
        assert_eq!(rng.next_u32(), 581869302);
    }
}
