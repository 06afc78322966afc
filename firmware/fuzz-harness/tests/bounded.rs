//! The bounded, stable-Rust fuzz run CI does: every target over its seed corpus, then deterministic
//! mutations of each seed (bit flips, truncations, splices, random bytes), a fixed number per target.
use std::path::PathBuf;

/// Mutations per target; `WARDEN_FUZZ_ITERATIONS` overrides it.
const DEFAULT_ITERATIONS: usize = 20_000;

/// xorshift64*: a deterministic source, so a failure is reproducible from the printed iteration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()).filter_map(|e| std::fs::read(e.path()).ok()).collect())
        .unwrap_or_default();
    seeds.push(Vec::new());
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                data.extend_from_slice(&other[cut..]);
            }
            _ => data.extend((0..rng.below(16)).map(|_| rng.next() as u8)),
        }
    }
    data
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let iterations = std::env::var("WARDEN_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    for (name, body) in warden_fuzz::TARGETS {
        let started = std::time::Instant::now();
        let seeds = seeds(name);
        for seed in &seeds {
            body(seed);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        for _ in 0..iterations {
            body(&mutate(&mut rng, &seeds));
        }
        eprintln!(
            "fuzz target {name}: {} seeds, {iterations} mutations, {:.1?}",
            seeds.len(),
            started.elapsed()
        );
    }
}
