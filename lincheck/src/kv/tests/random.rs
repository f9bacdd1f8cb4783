//! Histories that are linearizable by construction: each operation is given
//! a linearization point inside its interval and applied to a plain map in
//! that order, independently of `KvModel`.

use std::collections::HashMap;

use super::*;

/// xorshift64: deterministic and good enough to shuffle schedules.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const VALUES: [&str; 4] = ["0", "1", "2", "3"];

fn random_input(rng: &mut Rng, keys: &[&str]) -> KvInput {
    let key = rng.pick(keys);
    match rng.below(10) {
        0..4 => get(key),
        4..6 => put(key, rng.pick(&VALUES)),
        6 => delete(key),
        _ => {
            let expected = (rng.below(3) != 0).then(|| rng.pick(&VALUES));
            cas(key, expected, rng.pick(&VALUES))
        }
    }
}

/// The store under simulation: an atomic map.
fn apply(map: &mut HashMap<Vec<u8>, Vec<u8>>, input: &KvInput) -> KvOutput {
    match input {
        KvInput::Get { key } => KvOutput::Get(map.get(key).cloned()),
        KvInput::Put { key, value } => {
            map.insert(key.clone(), value.clone());
            KvOutput::Put
        }
        KvInput::Delete { key } => KvOutput::Delete {
            deleted: map.remove(key).is_some(),
        },
        KvInput::CompareAndPut {
            key,
            expected,
            value,
        } => {
            let succeeded = map.get(key) == expected.as_ref();
            if succeeded {
                map.insert(key.clone(), value.clone());
            }
            KvOutput::CompareAndPut { succeeded }
        }
    }
}

struct Planned {
    client: u64,
    call: u64,
    point: u64,
    ret: u64,
    input: KvInput,
    /// The client lost the response.
    lost: bool,
    /// The store executed it (always, unless lost and dropped).
    applied: bool,
}

fn simulate(
    seed: u64,
    clients: u64,
    per_client: u64,
    keys: &[&str],
) -> Vec<Operation<KvInput, KvOutput>> {
    let mut rng = Rng::new(seed);
    let mut planned = Vec::new();
    for client in 0..clients {
        let mut t = rng.below(10);
        for _ in 0..per_client {
            let call = t + rng.below(10);
            let point = call + rng.below(20);
            let ret = point + rng.below(20);
            let lost = rng.below(30) == 0;
            let applied = !lost || rng.below(2) == 0;
            let input = random_input(&mut rng, keys);
            planned.push(Planned {
                client,
                call,
                point,
                ret,
                input,
                lost,
                applied,
            });
            t = ret;
        }
    }

    let mut order: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].applied).collect();
    order.sort_by_key(|&i| planned[i].point);
    let mut map = HashMap::new();
    let mut outputs = vec![None; planned.len()];
    for i in order {
        outputs[i] = Some(apply(&mut map, &planned[i].input));
    }

    planned
        .into_iter()
        .zip(outputs)
        .map(|(p, output)| Operation {
            client: p.client,
            call: p.call,
            outcome: match output {
                Some(output) if !p.lost => Outcome::Returned { at: p.ret, output },
                _ => Outcome::Unknown,
            },
            input: p.input,
        })
        .collect()
}

/// Replaces the output of the `nth` returned read with a value no one wrote.
fn corrupt(history: &mut [Operation<KvInput, KvOutput>], nth: usize) -> Option<usize> {
    let (index, op) = history
        .iter_mut()
        .enumerate()
        .filter(|(_, op)| matches!(op.input, KvInput::Get { .. }) && op.returned_at().is_some())
        .nth(nth)?;
    if let Outcome::Returned { output, .. } = &mut op.outcome {
        *output = got(Some("never written"));
    }
    Some(index)
}

#[test]
fn simulated_histories_are_linearizable_and_corruptions_are_caught() {
    for seed in 1..=20 {
        let mut history = simulate(seed, 4, 60, &["x", "y", "z"]);
        assert!(history.iter().any(|op| op.outcome == Outcome::Unknown));
        let v = verdict(&history);
        assert_eq!(v, Verdict::Linearizable, "seed {seed}: {v}");

        let nth = seed as usize * 7 % 40;
        let bad = corrupt(&mut history, nth).expect("enough reads");
        let v = violation(&history);
        assert_eq!(
            v.op,
            bad,
            "seed {seed}: {}",
            Verdict::NotLinearizable(v.clone())
        );
        assert_eq!(v.partition, history[bad].input.key());
    }
}

#[test]
fn highly_concurrent_single_key_histories_are_linearizable() {
    for seed in 1..=5 {
        let history = simulate(seed, 8, 25, &["x"]);
        let v = verdict(&history);
        assert_eq!(v, Verdict::Linearizable, "seed {seed}: {v}");
    }
}

#[test]
fn tiny_budget_gives_up_with_undecided() {
    let history = simulate(7, 8, 25, &["x"]);
    let v = check::<KvModel>(&history, 5).unwrap();
    assert_eq!(v, Verdict::Undecided { explored: 5 });
    assert_eq!(
        v.to_string(),
        "undecided: search budget exhausted after 5 configurations"
    );
}
