use super::*;
use crate::history::{History, Outcome};
use crate::search::{Verdict, Violation};

mod random;

fn get(key: &str) -> KvInput {
    KvInput::Get {
        key: key.as_bytes().to_vec(),
    }
}

fn put(key: &str, value: &str) -> KvInput {
    KvInput::Put {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

fn delete(key: &str) -> KvInput {
    KvInput::Delete {
        key: key.as_bytes().to_vec(),
    }
}

fn cas(key: &str, expected: Option<&str>, value: &str) -> KvInput {
    KvInput::CompareAndPut {
        key: key.as_bytes().to_vec(),
        expected: expected.map(|e| e.as_bytes().to_vec()),
        value: value.as_bytes().to_vec(),
    }
}

fn got(value: Option<&str>) -> KvOutput {
    KvOutput::Get(value.map(|v| v.as_bytes().to_vec()))
}

fn op(
    client: u64,
    call: u64,
    at: u64,
    input: KvInput,
    output: KvOutput,
) -> Operation<KvInput, KvOutput> {
    Operation {
        client,
        call,
        outcome: Outcome::Returned { at, output },
        input,
    }
}

fn lost(client: u64, call: u64, input: KvInput) -> Operation<KvInput, KvOutput> {
    Operation {
        client,
        call,
        outcome: Outcome::Unknown,
        input,
    }
}

fn verdict(history: &[Operation<KvInput, KvOutput>]) -> KvVerdict {
    check_kv(history).unwrap()
}

fn violation(history: &[Operation<KvInput, KvOutput>]) -> Violation<Vec<u8>, KvInput, KvOutput> {
    match verdict(history) {
        Verdict::NotLinearizable(v) => v,
        other => panic!("expected a violation, got: {other}"),
    }
}

#[track_caller]
fn assert_linearizable(history: &[Operation<KvInput, KvOutput>]) {
    let v = verdict(history);
    assert_eq!(v, Verdict::Linearizable, "{v}");
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&[]);
}

#[test]
fn sequential_history_is_linearizable() {
    assert_linearizable(&[
        op(1, 0, 1, get("a"), got(None)),
        op(1, 2, 3, put("a", "1"), KvOutput::Put),
        op(2, 4, 5, get("a"), got(Some("1"))),
        op(1, 6, 7, delete("a"), KvOutput::Delete { deleted: true }),
        op(2, 8, 9, get("a"), got(None)),
        op(
            1,
            10,
            11,
            cas("a", None, "2"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
        op(2, 12, 13, get("a"), got(Some("2"))),
    ]);
}

#[test]
fn read_after_overlapping_puts_may_see_either() {
    for seen in ["1", "2"] {
        assert_linearizable(&[
            op(1, 0, 10, put("a", "1"), KvOutput::Put),
            op(2, 5, 15, put("a", "2"), KvOutput::Put),
            op(3, 20, 30, get("a"), got(Some(seen))),
        ]);
    }
    let v = violation(&[
        op(1, 0, 10, put("a", "1"), KvOutput::Put),
        op(2, 5, 15, put("a", "2"), KvOutput::Put),
        op(3, 20, 30, get("a"), got(None)),
    ]);
    assert_eq!(v.op, 2);
}

#[test]
fn read_of_a_value_overwritten_by_a_later_put_is_caught() {
    let v = violation(&[
        op(1, 0, 10, put("a", "1"), KvOutput::Put),
        op(2, 5, 15, put("a", "2"), KvOutput::Put),
        op(1, 20, 30, put("a", "3"), KvOutput::Put),
        op(3, 40, 50, get("a"), got(Some("1"))),
    ]);
    assert_eq!((v.op, v.operation.client), (3, 3));
    assert!(v.description.contains("\"3\""), "{}", v.description);
}

#[test]
fn stale_read_names_the_key_and_the_read() {
    let history = [
        op(1, 0, 10, put("a", "1"), KvOutput::Put),
        op(2, 20, 30, put("a", "2"), KvOutput::Put),
        op(3, 40, 50, get("a"), got(Some("1"))),
    ];
    let v = violation(&history);
    assert_eq!(v.partition, b"a");
    assert_eq!(v.op, 2);
    assert_eq!(v.operation, history[2]);
    assert_eq!(
        verdict(&history).to_string(),
        "not linearizable: op #2 (client 3: get(\"a\") called at 40, returned \"1\" at 50): \
         no ordering explains this output; when it had to take effect the state could be: \"2\""
    );
}

#[test]
fn call_at_the_instant_of_a_return_counts_as_concurrent() {
    assert_linearizable(&[
        op(1, 0, 10, put("a", "1"), KvOutput::Put),
        op(2, 10, 20, get("a"), got(None)),
    ]);
    let v = violation(&[
        op(1, 0, 10, put("a", "1"), KvOutput::Put),
        op(2, 11, 20, get("a"), got(None)),
    ]);
    assert_eq!(v.op, 1);
}

#[test]
fn unknown_write_may_or_may_not_take_effect() {
    assert_linearizable(&[
        lost(1, 0, put("a", "1")),
        op(2, 10, 20, get("a"), got(Some("1"))),
    ]);
    assert_linearizable(&[
        lost(1, 0, put("a", "1")),
        op(2, 10, 20, get("a"), got(None)),
    ]);
    // It may also take effect late, long after the client gave up.
    assert_linearizable(&[
        lost(1, 0, put("a", "1")),
        op(2, 10, 20, get("a"), got(None)),
        op(2, 30, 40, get("a"), got(Some("1"))),
    ]);
}

#[test]
fn unknown_write_takes_effect_at_most_once() {
    let v = violation(&[
        lost(1, 0, put("a", "1")),
        op(2, 10, 20, get("a"), got(Some("1"))),
        op(2, 30, 40, get("a"), got(None)),
    ]);
    assert_eq!(v.op, 2);
}

#[test]
fn unknown_write_cannot_take_effect_before_its_call() {
    let v = violation(&[
        op(2, 0, 5, get("a"), got(Some("1"))),
        lost(1, 10, put("a", "1")),
    ]);
    assert_eq!(v.op, 0);
}

#[test]
fn compare_and_put_follows_its_expectation() {
    assert_linearizable(&[
        op(
            1,
            0,
            1,
            cas("a", None, "1"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
        op(
            1,
            2,
            3,
            cas("a", Some("2"), "3"),
            KvOutput::CompareAndPut { succeeded: false },
        ),
        op(
            1,
            4,
            5,
            cas("a", None, "3"),
            KvOutput::CompareAndPut { succeeded: false },
        ),
        op(1, 6, 7, get("a"), got(Some("1"))),
        op(
            1,
            8,
            9,
            cas("a", Some("1"), "4"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
        op(1, 10, 11, get("a"), got(Some("4"))),
    ]);
    let v = violation(&[
        op(1, 0, 1, put("a", "1"), KvOutput::Put),
        op(
            1,
            2,
            3,
            cas("a", Some("2"), "3"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
    ]);
    assert_eq!(v.op, 1);
    let v = violation(&[op(
        1,
        0,
        1,
        cas("a", None, "1"),
        KvOutput::CompareAndPut { succeeded: false },
    )]);
    assert_eq!(v.op, 0);
}

#[test]
fn concurrent_compare_and_puts_cannot_both_win() {
    assert_linearizable(&[
        op(
            1,
            0,
            10,
            cas("a", None, "x"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
        op(
            2,
            0,
            10,
            cas("a", None, "y"),
            KvOutput::CompareAndPut { succeeded: false },
        ),
        op(3, 20, 30, get("a"), got(Some("x"))),
    ]);
    let v = violation(&[
        op(
            1,
            0,
            10,
            cas("a", None, "x"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
        op(
            2,
            0,
            10,
            cas("a", None, "y"),
            KvOutput::CompareAndPut { succeeded: true },
        ),
    ]);
    assert_eq!(v.op, 1);
}

#[test]
fn unknown_compare_and_put_applies_only_if_expected() {
    assert_linearizable(&[
        lost(1, 0, cas("a", None, "1")),
        op(2, 10, 20, get("a"), got(Some("1"))),
    ]);
    let v = violation(&[
        op(1, 0, 1, put("a", "0"), KvOutput::Put),
        lost(1, 2, cas("a", None, "1")),
        op(2, 10, 20, get("a"), got(Some("1"))),
    ]);
    assert_eq!(v.op, 2);
}

#[test]
fn delete_reports_whether_the_key_existed() {
    assert_linearizable(&[
        op(1, 0, 1, delete("a"), KvOutput::Delete { deleted: false }),
        op(1, 2, 3, put("a", "1"), KvOutput::Put),
        op(1, 4, 5, delete("a"), KvOutput::Delete { deleted: true }),
        op(1, 6, 7, get("a"), got(None)),
    ]);
    let v = violation(&[op(1, 0, 1, delete("a"), KvOutput::Delete { deleted: true })]);
    assert_eq!(v.op, 0);
    let v = violation(&[
        op(1, 0, 1, put("a", "1"), KvOutput::Put),
        op(2, 2, 3, delete("a"), KvOutput::Delete { deleted: false }),
    ]);
    assert_eq!(v.op, 1);
    let v = violation(&[
        op(1, 0, 1, put("a", "1"), KvOutput::Put),
        op(2, 2, 3, delete("a"), KvOutput::Delete { deleted: true }),
        op(1, 4, 5, get("a"), got(Some("1"))),
    ]);
    assert_eq!(v.op, 2);
}

#[test]
fn concurrent_delete_and_put_may_land_in_either_order() {
    for seen in [None, Some("1")] {
        assert_linearizable(&[
            op(1, 0, 1, put("a", "0"), KvOutput::Put),
            op(1, 2, 10, delete("a"), KvOutput::Delete { deleted: true }),
            op(2, 2, 10, put("a", "1"), KvOutput::Put),
            op(3, 20, 30, get("a"), got(seen)),
        ]);
    }
}

#[test]
fn response_of_the_wrong_kind_is_a_violation() {
    let v = violation(&[op(1, 0, 1, get("a"), KvOutput::Put)]);
    assert_eq!(v.op, 0);
}

#[test]
fn violation_on_one_key_is_found_among_many_others() {
    let mut history = Vec::new();
    for round in 0..40u64 {
        for key in 0..10u64 {
            let (k, v) = (format!("k{key}"), format!("{round}"));
            let t = round * 100 + key;
            history.push(op(key, t, t + 50, put(&k, &v), KvOutput::Put));
            history.push(op(key + 10, t + 60, t + 90, get(&k), got(Some(&v))));
        }
        if round == 20 {
            history.push(op(
                30,
                round * 100,
                round * 100 + 1,
                put("b", "1"),
                KvOutput::Put,
            ));
            history.push(op(
                31,
                round * 100 + 2,
                round * 100 + 3,
                get("b"),
                got(None),
            ));
        }
    }
    let bad = history.len() - 1 - 19 * 20;
    assert_eq!(history[bad].input, get("b"));
    let v = violation(&history);
    assert_eq!((v.partition.as_slice(), v.op), (b"b".as_slice(), bad));
}

#[test]
fn earliest_violation_across_keys_is_reported() {
    let v = violation(&[
        op(1, 0, 1, put("a", "1"), KvOutput::Put),
        op(1, 50, 60, get("a"), got(None)),
        op(2, 0, 10, get("b"), got(Some("1"))),
    ]);
    assert_eq!((v.partition.as_slice(), v.op), (b"b".as_slice(), 2));
}

#[test]
fn return_before_call_in_a_raw_history_is_an_error() {
    let err = check_kv(&[
        op(1, 0, 1, put("a", "1"), KvOutput::Put),
        op(5, 10, 9, get("a"), got(Some("1"))),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        HistoryError::ReturnedBeforeCall {
            op: 1,
            client: 5,
            call: 10,
            returned: 9
        }
    );
}

#[test]
fn recorded_history_is_checked() {
    let mut h = History::new();
    let w = h.invoke(1, put("a", "1"), 0);
    let r = h.invoke(2, get("a"), 5);
    let t = h.invoke(3, put("a", "2"), 6);
    h.returned(r, got(Some("1")), 8).unwrap();
    h.returned(w, KvOutput::Put, 9).unwrap();
    h.unknown(t).unwrap();
    let ops = h.into_operations().unwrap();
    assert_linearizable(&ops);
}
