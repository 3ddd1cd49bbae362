//! Leases of work shared by several servers: one holder at a time, take-over after
//! lapse with a new generation, and the old holder fenced off.

use std::time::Duration;

use relay_store::{Acquired, LeaseRepository};

const LONG: Duration = Duration::from_secs(60);

fn taken(a: Acquired) -> relay_store::Lease {
    match a {
        Acquired::Taken(l) => l,
        Acquired::Held(l) => panic!("expected to take the lease, held by {l:?}"),
    }
}

fn held(a: Acquired) -> relay_store::Lease {
    match a {
        Acquired::Held(l) => l,
        Acquired::Taken(l) => panic!("expected the lease to be held, took {l:?}"),
    }
}

#[test]
fn one_holder_at_a_time_and_not_reentrant() {
    let store = crate::common::memory_store();
    let leases = store.leases();
    let a = taken(leases.acquire("provider/h/p/x", "server-a", LONG).unwrap());
    assert_eq!((a.owner.as_str(), a.generation), ("server-a", 1));
    let seen = held(leases.acquire("provider/h/p/x", "server-b", LONG).unwrap());
    assert_eq!(seen.owner, "server-a");
    held(leases.acquire("provider/h/p/x", "server-a", LONG).unwrap());
    // Other names are independent.
    taken(leases.acquire("provider/h/p/y", "server-b", LONG).unwrap());
    assert_eq!(
        leases.holder("provider/h/p/x").unwrap().unwrap().owner,
        "server-a"
    );
    let renewed = leases.renew(&a, LONG).unwrap().unwrap();
    assert!(renewed.expires_at.0 >= a.expires_at.0);
    assert_eq!(renewed.generation, 1);
}

#[test]
fn a_lapsed_lease_is_taken_over_and_the_old_holder_is_fenced_off() {
    let store = crate::common::memory_store();
    let leases = store.leases();
    // A holder whose lease lapsed (a server killed, or stalled past its lease).
    let old = taken(
        leases
            .acquire("run/r1", "server-a", Duration::ZERO)
            .unwrap(),
    );
    assert!(leases.holder("run/r1").unwrap().is_none());
    let new = taken(leases.acquire("run/r1", "server-b", LONG).unwrap());
    assert_eq!((new.owner.as_str(), new.generation), ("server-b", 2));
    // The old holder learns it on its next renewal, and its release changes nothing.
    assert_eq!(leases.renew(&old, LONG).unwrap(), None);
    leases.release(&old).unwrap();
    assert_eq!(leases.holder("run/r1").unwrap().unwrap(), new);
    // A lapsed lease nobody took is still its holder's to renew.
    let lapsed = taken(
        leases
            .acquire("run/r2", "server-a", Duration::ZERO)
            .unwrap(),
    );
    assert!(leases.renew(&lapsed, LONG).unwrap().is_some());
    assert_eq!(leases.holder("run/r2").unwrap().unwrap().owner, "server-a");
}

#[test]
fn released_leases_are_free_and_generations_never_repeat() {
    let store = crate::common::memory_store();
    let leases = store.leases();
    let first = taken(leases.acquire("provider/h/p/x", "server-a", LONG).unwrap());
    leases.release(&first).unwrap();
    assert!(leases.holder("provider/h/p/x").unwrap().is_none());
    let second = taken(leases.acquire("provider/h/p/x", "server-b", LONG).unwrap());
    assert_eq!(second.generation, 2);
    assert_eq!(leases.renew(&first, LONG).unwrap(), None);
}

#[test]
fn a_restarted_server_frees_what_its_previous_process_held() {
    let store = crate::common::memory_store();
    let leases = store.leases();
    taken(leases.acquire("provider/h/p/x", "server-a", LONG).unwrap());
    taken(leases.acquire("provider/h/p/y", "server-a", LONG).unwrap());
    let b = taken(leases.acquire("provider/h/p/z", "server-b", LONG).unwrap());
    assert_eq!(leases.release_owner("server-a").unwrap(), 2);
    assert!(leases.holder("provider/h/p/x").unwrap().is_none());
    assert!(leases.holder("provider/h/p/y").unwrap().is_none());
    assert_eq!(leases.holder("provider/h/p/z").unwrap().unwrap(), b);
    let again = taken(leases.acquire("provider/h/p/x", "server-a", LONG).unwrap());
    assert_eq!(again.generation, 2);
}
