use super::*;
use crate::codes::PartnerCode;
use proptest::prelude::*;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + s).unwrap()
}
fn loc(c: &str) -> LocationCode {
    LocationCode::parse(c).unwrap()
}
fn key(l: &str, owner: Owner) -> StockKey {
    StockKey { location_code: loc(l), sku_code: SkuCode::parse("PHONE").unwrap(), owner }
}
fn q(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}
fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}
fn run(view: &mut LedgerView, cmd: StockCommand, now: Timestamp) -> DomainResult<Decision> {
    let d = decide(&cmd, view, now)?;
    view.apply(&d);
    Ok(d)
}

#[test]
fn a_partners_stock_is_received_only_at_its_own_stores_but_may_come_back_anywhere() {
    use crate::location::LocationStatus::Open;
    let zj = PartnerCode::parse("P-ZJ").unwrap();
    let theirs = key("D-1", Owner::Partner(zj.clone()));
    let receive = StockCommand::Receive { key: theirs.clone(), quantity: q(1), reference: None };
    assert_eq!(check_status(&receive, &loc("D-1"), Open, None).unwrap_err().code, "owner_not_at_location");
    let other = PartnerCode::parse("P-GD").unwrap();
    assert_eq!(check_status(&receive, &loc("D-1"), Open, Some(&other)).unwrap_err().code, "owner_not_at_location");
    assert!(check_status(&receive, &loc("D-1"), Open, Some(&zj)).is_ok());
    let brand = StockCommand::Receive { key: key("T-1", Owner::Brand), quantity: q(1), reference: None };
    assert!(check_status(&brand, &loc("T-1"), Open, Some(&zj)).is_ok(), "consignment: the brand's stock in a partner's store");
    let back = StockCommand::Return { key: theirs, quantity: q(1), reference: None, damaged: false };
    assert!(check_status(&back, &loc("D-1"), Open, None).is_ok(), "returns anywhere");
}

#[test]
fn quantities_are_positive_and_bounded() {
    assert_eq!(Quantity::new(0).unwrap_err().code, "quantity_not_positive");
    assert_eq!(Quantity::new(-3).unwrap_err().code, "quantity_not_positive");
    assert_eq!(Quantity::new(QUANTITY_MAX + 1).unwrap_err().code, "quantity_too_large");
}

#[test]
fn reservation_respects_unreserved_stock_and_safety_stock() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(10), reference: None }, ts(0)).unwrap();
    run(&mut v, StockCommand::SetSafetyStock { location_code: loc("S1"), sku_code: k.sku_code.clone(), quantity: 2 }, ts(0)).unwrap();
    let reserve =
        |n, i| StockCommand::Reserve { reservation_id: id(i), key: k.clone(), quantity: q(n), expires_at: ts(900), reference: None };
    let err = run(&mut v, reserve(9, 1), ts(0)).unwrap_err();
    assert_eq!(err.code, "insufficient_stock");
    run(&mut v, reserve(8, 1), ts(0)).unwrap();
    assert_eq!(v.availability(&loc("S1"), &k.sku_code), Availability { on_hand: 10, reserved: 8, safety_stock: 2, available: 0 });
    assert_eq!(run(&mut v, reserve(1, 2), ts(0)).unwrap_err().code, "insufficient_stock");
}

#[test]
fn a_till_sale_cannot_take_reserved_units_but_may_take_safety_stock() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(3), reference: None }, ts(0)).unwrap();
    run(&mut v, StockCommand::SetSafetyStock { location_code: loc("S1"), sku_code: k.sku_code.clone(), quantity: 1 }, ts(0)).unwrap();
    run(
        &mut v,
        StockCommand::Reserve { reservation_id: id(1), key: k.clone(), quantity: q(2), expires_at: ts(60), reference: None },
        ts(0),
    )
    .unwrap();
    assert_eq!(
        run(&mut v, StockCommand::Sell { key: k.clone(), quantity: q(2), reference: None }, ts(1)).unwrap_err().code,
        "insufficient_stock"
    );
    run(&mut v, StockCommand::Sell { key: k.clone(), quantity: q(1), reference: None }, ts(1)).unwrap();
    assert_eq!(v.position(&k), Position { on_hand: 2, reserved: 2, damaged: 0 });
}

#[test]
fn commit_turns_a_reservation_into_a_sale_once() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(5), reference: None }, ts(0)).unwrap();
    run(
        &mut v,
        StockCommand::Reserve { reservation_id: id(1), key: k.clone(), quantity: q(2), expires_at: ts(60), reference: None },
        ts(0),
    )
    .unwrap();
    let d = run(&mut v, StockCommand::Commit { reservation_id: id(1), reference: None }, ts(10)).unwrap();
    assert_eq!(d.event_type.as_str(), "stock.committed");
    assert_eq!(v.position(&k), Position { on_hand: 3, reserved: 0, damaged: 0 });
    let again = run(&mut v, StockCommand::Commit { reservation_id: id(1), reference: None }, ts(11)).unwrap_err();
    assert_eq!(again.code, "reservation_not_active");
    assert_eq!(run(&mut v, StockCommand::Release { reservation_id: id(1) }, ts(11)).unwrap_err().code, "reservation_not_active");
}

#[test]
fn expiry_only_after_the_deadline_and_commit_only_before() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(5), reference: None }, ts(0)).unwrap();
    run(
        &mut v,
        StockCommand::Reserve { reservation_id: id(1), key: k.clone(), quantity: q(2), expires_at: ts(60), reference: None },
        ts(0),
    )
    .unwrap();
    assert_eq!(run(&mut v, StockCommand::Expire { reservation_id: id(1) }, ts(59)).unwrap_err().code, "reservation_not_expired");
    assert_eq!(
        run(&mut v, StockCommand::Commit { reservation_id: id(1), reference: None }, ts(60)).unwrap_err().code,
        "reservation_expired"
    );
    run(&mut v, StockCommand::Expire { reservation_id: id(1) }, ts(60)).unwrap();
    assert_eq!(v.position(&k), Position { on_hand: 5, reserved: 0, damaged: 0 });
    assert_eq!(v.reservations[&id(1)].status, ReservationStatus::Expired);
}

#[test]
fn owners_are_separate_balances_at_one_location() {
    let mut v = LedgerView::default();
    let brand = key("S1", Owner::Brand);
    let partner = key("S1", Owner::Partner(PartnerCode::parse("P1").unwrap()));
    run(&mut v, StockCommand::Receive { key: brand.clone(), quantity: q(2), reference: None }, ts(0)).unwrap();
    run(&mut v, StockCommand::Receive { key: partner.clone(), quantity: q(3), reference: None }, ts(0)).unwrap();
    assert_eq!(v.availability(&loc("S1"), &brand.sku_code).available, 5);
    let err = run(&mut v, StockCommand::Sell { key: brand.clone(), quantity: q(3), reference: None }, ts(0)).unwrap_err();
    assert_eq!(err.code, "insufficient_stock", "the partner's units are not the brand's to sell");
    assert_eq!(
        run(&mut v, StockCommand::Adjust { key: partner, delta: -4, reason: "lost".into() }, ts(0)).unwrap_err().code,
        "negative_stock"
    );
}

#[test]
fn transfers_move_stock_through_transit_once() {
    let mut v = LedgerView::default();
    let from = key("WH", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: from.clone(), quantity: q(10), reference: None }, ts(0)).unwrap();
    run(&mut v, StockCommand::TransferOut { transfer_id: id(7), from: from.clone(), to_location_code: loc("S1"), quantity: q(4) }, ts(0))
        .unwrap();
    assert_eq!(v.position(&from).on_hand, 6);
    assert_eq!(v.position(&key("S1", Owner::Brand)).on_hand, 0);
    run(&mut v, StockCommand::TransferIn { transfer_id: id(7) }, ts(5)).unwrap();
    assert_eq!(v.position(&key("S1", Owner::Brand)).on_hand, 4);
    assert_eq!(run(&mut v, StockCommand::TransferIn { transfer_id: id(7) }, ts(6)).unwrap_err().code, "transfer_already_received");
    let same = StockCommand::TransferOut { transfer_id: id(8), from: from.clone(), to_location_code: loc("WH"), quantity: q(1) };
    assert_eq!(run(&mut v, same, ts(0)).unwrap_err().code, "transfer_to_same_location");
}

#[test]
fn a_count_replaces_on_hand_but_not_below_reserved() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(10), reference: None }, ts(0)).unwrap();
    run(
        &mut v,
        StockCommand::Reserve { reservation_id: id(1), key: k.clone(), quantity: q(4), expires_at: ts(60), reference: None },
        ts(0),
    )
    .unwrap();
    assert_eq!(
        run(&mut v, StockCommand::Count { key: k.clone(), counted: 3, reference: None }, ts(1)).unwrap_err().code,
        "count_below_reserved"
    );
    let d = run(&mut v, StockCommand::Count { key: k.clone(), counted: 7, reference: None }, ts(1)).unwrap();
    assert_eq!(d.entries[0].on_hand_delta, -3);
    assert_eq!(v.position(&k), Position { on_hand: 7, reserved: 4, damaged: 0 });
}

// ---- property test: random command sequences keep the invariants and conserve stock ----

fn arb_key() -> impl Strategy<Value = StockKey> {
    (prop::sample::select(vec!["WH", "S1", "S2"]), prop::bool::ANY)
        .prop_map(|(l, partner)| key(l, if partner { Owner::Partner(PartnerCode::parse("P1").unwrap()) } else { Owner::Brand }))
}

fn arb_command() -> impl Strategy<Value = StockCommand> {
    let ids = 0u128..12;
    prop_oneof![
        (arb_key(), 1i64..20).prop_map(|(key, n)| StockCommand::Receive { key, quantity: q(n), reference: None }),
        (arb_key(), -15i64..15).prop_map(|(key, delta)| StockCommand::Adjust { key, delta, reason: "fix".into() }),
        (arb_key(), -2i64..25).prop_map(|(key, counted)| StockCommand::Count { key, counted, reference: None }),
        (arb_key(), 1i64..10).prop_map(|(key, n)| StockCommand::Sell { key, quantity: q(n), reference: None }),
        (arb_key(), 1i64..5).prop_map(|(key, n)| StockCommand::Return { key, quantity: q(n), reference: None, damaged: n % 2 == 0 }),
        (arb_key(), 1i64..4).prop_map(|(key, n)| StockCommand::DisposeDamaged { key, quantity: q(n), reason: "rma".into() }),
        (ids.clone(), arb_key(), 1i64..10, 1i64..100).prop_map(|(i, key, n, ttl)| StockCommand::Reserve {
            reservation_id: id(i),
            key,
            quantity: q(n),
            expires_at: ts(ttl),
            reference: None
        }),
        ids.clone().prop_map(|i| StockCommand::Release { reservation_id: id(i) }),
        ids.clone().prop_map(|i| StockCommand::Expire { reservation_id: id(i) }),
        ids.clone().prop_map(|i| StockCommand::Commit { reservation_id: id(i), reference: None }),
        (100u128..106, arb_key(), prop::sample::select(vec!["WH", "S1", "S2"]), 1i64..10)
            .prop_map(|(i, from, to, n)| StockCommand::TransferOut { transfer_id: id(i), from, to_location_code: loc(to), quantity: q(n) }),
        (100u128..106).prop_map(|i| StockCommand::TransferIn { transfer_id: id(i) }),
        (prop::sample::select(vec!["WH", "S1", "S2"]), 0i64..6).prop_map(|(l, n)| StockCommand::SetSafetyStock {
            location_code: loc(l),
            sku_code: SkuCode::parse("PHONE").unwrap(),
            quantity: n
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_commands_keep_invariants_and_conserve_stock(steps in prop::collection::vec((arb_command(), 0i64..120), 1..80)) {
        let mut v = LedgerView::default();
        let mut journal: Vec<Entry> = vec![];
        for (cmd, t) in steps {
            let before = v.clone();
            match decide(&cmd, &v, ts(t)) {
                Ok(d) => {
                    // entries and balances agree: each entry's deltas add up to the new balance
                    for (k, p) in &d.positions {
                        let delta: (i64, i64) = d.entries.iter().filter(|e| &e.key == k).fold((0, 0), |a, e| (a.0 + e.on_hand_delta, a.1 + e.reserved_delta));
                        let old = before.position(k);
                        let damaged: i64 = d.entries.iter().filter(|e| &e.key == k).map(|e| e.damaged_delta).sum();
                        prop_assert_eq!(*p, Position { on_hand: old.on_hand + delta.0, reserved: old.reserved + delta.1, damaged: old.damaged + damaged });
                    }
                    if let StockCommand::Reserve { key, .. } = &cmd {
                        let a = {
                            let mut after = before.clone();
                            after.apply(&d);
                            after.availability(&key.location_code, &key.sku_code)
                        };
                        prop_assert!(a.on_hand - a.reserved - a.safety_stock >= 0, "a reservation dipped into safety stock");
                    }
                    v.apply(&d);
                    journal.extend(d.entries);
                }
                Err(_) => prop_assert_eq!(&v, &before),
            }
            // 0 ≤ reserved ≤ on hand, for every key
            for p in v.positions.values() {
                prop_assert!(p.is_valid(), "{:?}", p);
            }
            // reserved equals the sum of active reservations on each key
            for (k, p) in &v.positions {
                let held: i64 = v.reservations.values().filter(|r| &r.key == k && r.status == ReservationStatus::Active).map(|r| r.quantity.get()).sum();
                prop_assert_eq!(p.reserved, held);
            }
            // conservation: receipts − sales + returns + adjustments = on hand + in transit
            let sum = |kinds: &[EntryKind]| -> i64 { journal.iter().filter(|e| kinds.contains(&e.kind)).map(|e| e.on_hand_delta).sum() };
            let damaged_flow: i64 = journal.iter().map(|e| e.damaged_delta).sum();
            let inflow = sum(&[EntryKind::Receipt, EntryKind::Return, EntryKind::Adjustment, EntryKind::Count]);
            let sold = -sum(&[EntryKind::Sale, EntryKind::Commit]);
            let on_hand: i64 = v.positions.values().map(|p| p.on_hand).sum();
            let damaged: i64 = v.positions.values().map(|p| p.damaged).sum();
            let in_transit: i64 = v.transfers.values().filter(|t| t.status == TransferStatus::InTransit).map(|t| t.quantity.get()).sum();
            prop_assert_eq!(inflow - sold + damaged_flow, on_hand + damaged + in_transit);
        }
    }
}

#[test]
fn damaged_returns_are_held_apart_and_disposed() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Return { key: k.clone(), quantity: q(2), reference: None, damaged: true }, ts(0)).unwrap();
    assert_eq!(v.position(&k), Position { on_hand: 0, reserved: 0, damaged: 2 });
    assert_eq!(v.availability(&loc("S1"), &k.sku_code).available, 0, "damaged units are never promised");
    let too_many = StockCommand::DisposeDamaged { key: k.clone(), quantity: q(3), reason: "rma".into() };
    assert_eq!(run(&mut v, too_many, ts(1)).unwrap_err().code, "insufficient_damaged_stock");
    run(&mut v, StockCommand::DisposeDamaged { key: k.clone(), quantity: q(2), reason: "rma".into() }, ts(1)).unwrap();
    assert_eq!(v.position(&k).damaged, 0);
}

#[test]
fn an_extension_moves_a_live_reservation_later_only() {
    let mut v = LedgerView::default();
    let k = key("S1", Owner::Brand);
    run(&mut v, StockCommand::Receive { key: k.clone(), quantity: q(1), reference: None }, ts(0)).unwrap();
    run(&mut v, StockCommand::Reserve { reservation_id: id(1), key: k, quantity: q(1), expires_at: ts(60), reference: None }, ts(0))
        .unwrap();
    assert_eq!(run(&mut v, StockCommand::Extend { reservation_id: id(1), expires_at: ts(30) }, ts(1)).unwrap_err().code, "invalid_expiry");
    run(&mut v, StockCommand::Extend { reservation_id: id(1), expires_at: ts(86_400) }, ts(1)).unwrap();
    assert_eq!(v.reservations[&id(1)].expires_at, ts(86_400));
    // Past its time but not expired: still held, so it may be kept.
    run(&mut v, StockCommand::Extend { reservation_id: id(1), expires_at: ts(90_000) }, ts(86_401)).unwrap();
    run(&mut v, StockCommand::Expire { reservation_id: id(1) }, ts(90_000)).unwrap();
    assert_eq!(
        run(&mut v, StockCommand::Extend { reservation_id: id(1), expires_at: ts(190_000) }, ts(90_001)).unwrap_err().code,
        "reservation_not_active"
    );
}
