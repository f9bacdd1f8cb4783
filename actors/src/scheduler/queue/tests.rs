use super::*;

const SELECTOR: ClusterEvents = ClusterEvents::NODE_LABEL_UPDATE;
const ROOM: ClusterEvents = ClusterEvents::ASSIGNED_POD_DELETE;

fn queue() -> SchedulingQueue<&'static str> {
    SchedulingQueue::new(QueueSettings::default())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Pops everything due at `now`, leaving each popped pod in flight.
fn drain(q: &mut SchedulingQueue<&'static str>, now: Instant) -> Vec<&'static str> {
    std::iter::from_fn(|| q.pop(now)).collect()
}

#[test]
fn higher_priority_goes_first_then_the_earliest() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("late", 0, t0 + secs(1));
    q.add("early", 0, t0);
    q.add("urgent", 10, t0 + secs(2));
    q.add("low", -5, t0);
    q.add("same-instant", 0, t0);
    q.add("early", 100, t0 + secs(3));
    assert_eq!(
        drain(&mut q, t0 + secs(3)),
        ["urgent", "early", "same-instant", "late", "low"],
        "adding a queued pod again changes nothing"
    );
}

#[test]
fn an_update_reorders_the_active_queue() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("a", 0, t0);
    q.add("b", 0, t0);
    q.update("b", 1, t0);
    q.update("c", 0, t0);
    assert_eq!(drain(&mut q, t0), ["b", "a", "c"]);
}

#[test]
fn errors_back_off_from_one_second_doubling_to_ten() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("p", 0, t0);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..6 {
        assert_eq!(q.pop(now), Some("p"));
        q.retry(&"p", now);
        let due = q.next_deadline().unwrap();
        assert_eq!(
            q.pop(due - Duration::from_millis(1)),
            None,
            "still backing off"
        );
        waits.push(due - now);
        now = due;
    }
    assert_eq!(waits, [1, 2, 4, 8, 10, 10].map(secs));
}

#[test]
fn unschedulable_pods_wait_for_an_event_that_could_help() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("selective", 0, t0);
    q.add("big", 0, t0);
    assert_eq!(drain(&mut q, t0), ["selective", "big"]);
    q.unschedulable(&"selective", SELECTOR, t0);
    q.unschedulable(&"big", ROOM, t0);
    assert_eq!(
        q.counts(),
        QueueCounts {
            unschedulable: 2,
            ..QueueCounts::default()
        }
    );

    let later = t0 + secs(60);
    assert_eq!(q.pop(later), None, "a minute later nothing retried them");
    assert_eq!(q.move_on(ClusterEvents::NODE_CONDITION_UPDATE, later), 0);
    assert_eq!(q.move_on(ROOM, later), 1);
    assert_eq!(
        drain(&mut q, later),
        ["big"],
        "its backoff ran out long ago"
    );
    assert_eq!(q.move_on(SELECTOR | ClusterEvents::NODE_ADD, later), 1);
    assert_eq!(drain(&mut q, later), ["selective"]);
}

#[test]
fn a_pod_woken_during_its_backoff_waits_for_it_to_end() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("p", 0, t0);
    q.pop(t0);
    q.unschedulable(&"p", ROOM, t0);
    let soon = t0 + Duration::from_millis(300);
    assert_eq!(q.move_on(ROOM, soon), 1);
    assert_eq!(q.pop(soon), None);
    assert_eq!(q.counts().backoff, 1);
    assert_eq!(q.next_deadline(), Some(t0 + secs(1)));
    assert_eq!(q.pop(t0 + secs(1)), Some("p"));
}

#[test]
fn parked_pods_are_tried_again_after_five_minutes() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("a", 0, t0);
    q.add("b", 0, t0 + secs(30));
    q.pop(t0);
    q.unschedulable(&"a", SELECTOR, t0);
    q.pop(t0 + secs(30));
    q.unschedulable(&"b", SELECTOR, t0 + secs(30));
    assert_eq!(q.next_deadline(), Some(t0 + secs(300)));
    assert!(!q.has_due(t0 + secs(299)));
    assert!(q.has_due(t0 + secs(300)));
    assert_eq!(drain(&mut q, t0 + secs(300)), ["a"]);
    assert_eq!(q.next_deadline(), Some(t0 + secs(330)));
    assert_eq!(drain(&mut q, t0 + secs(330)), ["b"]);
}

#[test]
fn a_new_pod_goes_before_parked_pods_are_tried_again() {
    let t0 = Instant::now();
    let mut q = queue();
    let parked: Vec<&'static str> = (0..1000)
        .map(|i| &*Box::leak(format!("parked-{i}").into_boxed_str()))
        .collect();
    for &key in &parked {
        q.add(key, 0, t0);
    }
    for key in drain(&mut q, t0) {
        q.unschedulable(&key, SELECTOR, t0);
    }
    let later = t0 + secs(20);
    q.add("new", 0, later);
    assert_eq!(q.pop(later), Some("new"));
    assert_eq!(q.pop(later), None, "no parked pod is due");
    assert_eq!(q.counts().unschedulable, 1000);
}

#[test]
fn an_event_during_an_attempt_sends_the_pod_to_backoff_not_to_the_pool() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("p", 0, t0);
    q.add("q", 0, t0);
    assert_eq!(drain(&mut q, t0), ["p", "q"]);
    assert_eq!(q.move_on(ROOM, t0), 0, "no pod was parked yet");
    q.unschedulable(&"p", ROOM, t0);
    q.unschedulable(&"q", SELECTOR, t0);
    assert_eq!(q.counts().backoff, 1);
    assert_eq!(q.counts().unschedulable, 1);
    assert_eq!(drain(&mut q, t0 + secs(1)), ["p"]);
}

#[test]
fn an_update_of_a_parked_pod_moves_it_on() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add("p", 0, t0);
    q.pop(t0);
    q.unschedulable(&"p", SELECTOR, t0);
    q.update("p", 0, t0 + secs(5));
    assert_eq!(drain(&mut q, t0 + secs(5)), ["p"]);
    q.update("p", 0, t0 + secs(5));
    q.unschedulable(&"p", SELECTOR, t0 + secs(5));
    assert_eq!(
        q.counts().backoff,
        1,
        "updated while in flight: tried again after its backoff"
    );
}

#[test]
fn removed_pods_are_gone_from_every_queue() {
    let t0 = Instant::now();
    let mut q = queue();
    for key in ["backing-off", "parked", "in-flight", "active"] {
        q.add(key, 0, t0);
    }
    assert_eq!(q.pop(t0), Some("backing-off"));
    q.retry(&"backing-off", t0);
    assert_eq!(q.pop(t0), Some("parked"));
    q.unschedulable(&"parked", SELECTOR, t0);
    assert_eq!(q.pop(t0), Some("in-flight"));
    assert_eq!(
        q.counts(),
        QueueCounts {
            active: 1,
            backoff: 1,
            unschedulable: 1,
            in_flight: 1
        }
    );
    for key in ["backing-off", "parked", "in-flight", "active"] {
        q.remove(&key);
    }
    assert_eq!(q.counts(), QueueCounts::default());
    assert_eq!(q.next_deadline(), None);
    q.unschedulable(&"in-flight", SELECTOR, t0);
    q.retry(&"in-flight", t0);
    assert_eq!(
        q.counts(),
        QueueCounts::default(),
        "a late verdict is ignored"
    );
}
