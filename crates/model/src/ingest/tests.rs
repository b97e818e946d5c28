//! Tests of the readers: layouts, quoting, block cuts, errors and the duplicate policy.

use super::*;

fn read(text: &str) -> Result<(Ratings, ReadReport), IngestError> {
    read_ratings_str(text, "t.txt", &ReadOptions::default())
}

#[test]
fn quoted_fields_follow_rfc_4180() {
    let (r, _) = read("user,item,rating\n\"a,b\",1,5\n\"say \"\"hi\"\"\",2,4\n").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r.users.id(0), "a,b");
    assert_eq!(r.items.id(r.records[0].item), "1");
    assert_eq!(r.records[0].rating, 5.0);
    assert_eq!(r.users.id(1), "say \"hi\"");
    // A quoted field may span lines, whatever the block size (blocks and pieces cut only
    // between records).
    let text = "user,item,rating,note\nu1,i1,1,\"two\nlines\"\nu2,i2,2,x\n\n\"u\n3\",i3,3,y\n";
    for block in [3, 7, 64, 1 << 20] {
        let err = read_blocks(text.as_bytes(), "t.csv", &ReadOptions::default(), block)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.csv:6: user id \"u\\n3\" contains a line break"),
            "{block}: {err}"
        );
        let (r, _) = read_blocks(
            &text.as_bytes()[..text.len() - 14],
            "t.csv",
            &ReadOptions::default(),
            block,
        )
        .unwrap();
        assert_eq!(r.len(), 2, "block {block}");
        assert_eq!(r.items.id(1), "i2");
    }
    // Quoted header names are names too.
    let (r, rep) = read("\"userId\",\"movieId\"\nu,m\n").unwrap();
    assert!(rep.header);
    assert_eq!(r.users.id(0), "u");
}

#[test]
fn tsv_written_with_awkward_ids_reads_back_the_same() {
    // A tab is a control character: the one id rule refuses it (ids reach tab-separated
    // output), even quoted.
    let tab = "user,item,rating,timestamp\n\"tab\there\",x,2.5,7\n";
    let err = read(tab).unwrap_err().to_string();
    assert!(
        err.starts_with("t.txt:2: user id \"tab\\there\" contains"),
        "{err}"
    );
    let text = "user,item,rating,timestamp\n\"sp ace\",\"q\"\"uote\",2.5,7\nplain,\"a;b\",1,8\n";
    let (r, _) = read(text).unwrap();
    let mut tsv = Vec::new();
    r.write_tsv(&mut tsv).unwrap();
    let (back, _) = read_ratings_from(&tsv[..], "back.tsv", &ReadOptions::default()).unwrap();
    assert_eq!(back.users.ids(), r.users.ids());
    assert_eq!(back.items.ids(), r.items.ids());
    assert_eq!(back.records, r.records);
    assert_eq!(back.users.id(0), "sp ace");
}

/// Found by the `ingest` fuzz target: a `"` inside an unquoted field is a literal (as the
/// `csv` crate reads it), but the block and piece cuts counted it as opening quotes, so a
/// later quoted field's line break was taken for a record end and the record cut in two.
/// Every block size must give the one-pass answer.
#[test]
fn a_stray_quote_does_not_move_block_cuts() {
    let text = "user,item,rating,note\n5\",i1,3,x\nu2,i2,4,\"a\nb\"\nu3,i3,5,\"say \"\"hi\"\"\"\nu4,i4,1,y\n";
    let (whole, report) = read(text).unwrap();
    assert_eq!(report.rows, 4);
    assert_eq!(whole.users.ids(), ["5\"", "u2", "u3", "u4"]);
    for block in 1..=text.len() {
        let (r, rep) =
            read_ratings_in_blocks(text.as_bytes(), "t.txt", &ReadOptions::default(), block)
                .unwrap_or_else(|e| panic!("block {block}: {e}"));
        assert_eq!(
            (r.records, r.users.ids(), rep),
            (whole.records.clone(), whole.users.ids(), report.clone()),
            "block {block}"
        );
    }
    for parts in 1..=text.len() {
        let pieces = line_aligned_pieces(text.as_bytes(), parts, Some(b','));
        assert_eq!(pieces.concat(), text.as_bytes());
        for p in &pieces[..pieces.len() - 1] {
            assert!(
                !p.ends_with(b"\"a\n"),
                "cut inside a quoted field ({parts} parts)"
            );
        }
    }
}

#[test]
fn byte_order_mark_is_not_part_of_an_id() {
    let (r, _) = read("\u{feff}196\t242\t3\n").unwrap();
    assert_eq!(r.users.id(0), "196");
    let (r, rep) = read("\u{feff}userId,movieId\nu1,m1\n").unwrap();
    assert!(rep.header);
    assert_eq!(r.users.id(0), "u1");
}

#[test]
fn invalid_utf8_and_control_characters_name_the_line() {
    let err = read_ratings_from(
        &b"1\t2\t3\n1\t\xff2\t4\n"[..],
        "t.txt",
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("t.txt:2: invalid UTF-8"),
        "{err}"
    );
    let err =
        read_ratings_from(&b"\xfe1\t2\t3\n"[..], "t.txt", &ReadOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("t.txt:1: invalid UTF-8"),
        "{err}"
    );
    let err = read("user,item\n\"a\nb\",1\n").unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
}

#[test]
fn values_beyond_the_range_are_rejected() {
    let err = read("1\t2\t1e20\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.txt:1: rating \"1e20\" is out of range"),
        "{err}"
    );
    let (r, _) = read("1\t2\t-1e9\n").unwrap();
    assert_eq!(r.records[0].rating, -1e9);
}

#[test]
fn a_huge_field_is_excerpted_in_messages() {
    // As a data row and as a would-be header, a 10 MB line is named, not printed.
    let huge = "9x".repeat(5_000_000);
    for (text, line) in [
        (format!("1\t2\t3\n1\t2\t{huge}\n"), "t.txt:2: rating"),
        (format!("1\t2\t{huge}\n"), "t.txt:1: no user column"),
    ] {
        let err = read(&text).unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes", err.len());
        assert!(err.starts_with(line), "{err}");
        assert!(err.contains("bytes in all"), "{err}");
    }
}

#[test]
fn udata_is_headerless_tab() {
    let (r, rep) = read("196\t242\t3\t881250949\n186\t302\t3\t891717742\n").unwrap();
    assert!(!rep.header);
    assert_eq!(r.len(), 2);
    assert_eq!(r.users.id(r.records[1].user), "186");
    assert_eq!(r.records[0].timestamp, 881250949);
    assert!(r.has_timestamps);
}

#[test]
fn dat_double_colon() {
    let (r, _) = read("1::1193::5::978300760\n1::661::3::978302109\n").unwrap();
    assert_eq!(r.items.id(r.records[1].item), "661");
    assert_eq!(r.records[0].rating, 5.0);
}

#[test]
fn movielens_csv_with_half_stars() {
    let (r, rep) =
        read("userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n")
            .unwrap();
    assert!(rep.header);
    assert_eq!(r.records[1].rating, 3.5);
}

#[test]
fn recbole_header_with_types_and_float_time() {
    let (r, _) = read(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949.0\n",
    )
    .unwrap();
    assert_eq!(r.records[0].timestamp, 881250949);
}

#[test]
fn named_columns_in_any_order() {
    let opts = ReadOptions {
        user_col: Some("who".into()),
        item_col: Some("what".into()),
        rating_col: Some("stars".into()),
        ..Default::default()
    };
    let (r, _) = read_ratings_str("stars,what,extra,who\n4,i9,x,u1\n", "t.csv", &opts).unwrap();
    assert_eq!(r.users.id(0), "u1");
    assert_eq!(r.items.id(0), "i9");
    assert_eq!(r.records[0].rating, 4.0);
    assert!(!r.has_timestamps);
}

#[test]
fn missing_rating_means_implicit_event() {
    let (r, _) = read("user,item\nu1,i1\nu1,i2\n").unwrap();
    assert_eq!(r.records[1].rating, 1.0);
}

#[test]
fn malformed_row_names_file_and_line() {
    let err = read("1\t2\t3\t4\n1\t3\tfive\t4\n").unwrap_err();
    assert_eq!(err.to_string(), "t.txt:2: rating \"five\" is not a number");
    let err = read("1\t2\t3\t4\n\n7\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.txt:3: expected at least 2 fields"),
        "{err}"
    );
}

#[test]
fn nan_and_inf_are_rejected_or_skipped() {
    let err = read("1\t2\tNaN\t4\n").unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    let opts = ReadOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let (r, rep) = read_ratings_str("1\t2\tinf\t4\n1\t3\t2\t5\n", "t", &opts).unwrap();
    assert_eq!((r.len(), rep.skipped, rep.rows), (1, 1, 1));
}

#[test]
fn empty_file_is_an_error() {
    assert!(matches!(read(""), Err(IngestError::Empty { .. })));
    assert!(matches!(
        read("userId,movieId,rating\n"),
        Err(IngestError::Empty { .. })
    ));
}

#[test]
fn duplicates_follow_policy() {
    let text = "u\ti\t1\t10\nu\tj\t2\t11\nu\ti\t4\t12\n";
    let (r, rep) = read(text).unwrap();
    assert_eq!(rep.duplicates, 1);
    assert_eq!(
        (r.len(), r.records[0].rating, r.records[0].timestamp),
        (2, 4.0, 12)
    );
    let sum = ReadOptions {
        duplicates: DuplicatePolicy::Sum,
        ..Default::default()
    };
    let (r, _) = read_ratings_str(text, "t", &sum).unwrap();
    assert_eq!(r.records[0].rating, 5.0);
    let first = ReadOptions {
        duplicates: DuplicatePolicy::First,
        ..Default::default()
    };
    let (r, _) = read_ratings_str(text, "t", &first).unwrap();
    assert_eq!(r.records[0].rating, 1.0);
    let error = ReadOptions {
        duplicates: DuplicatePolicy::Error,
        ..Default::default()
    };
    let err = read_ratings_str(text, "t", &error).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t:3: duplicate pair (user u, item i), first seen on line 1"
    );
}

#[test]
fn missing_named_column_is_reported() {
    let opts = ReadOptions {
        user_col: Some("customer".into()),
        ..Default::default()
    };
    let err = read_ratings_str("buyer,item\nx,y\n", "t.csv", &opts).unwrap_err();
    assert!(err.to_string().contains("no user column"), "{err}");
}

#[test]
fn decimal_ids_are_keyed_by_value_only_when_spelled_canonically() {
    assert_eq!(canonical_decimal("0"), Some(0));
    assert_eq!(canonical_decimal("196"), Some(196));
    assert_eq!(
        canonical_decimal("1234567890123456789"),
        Some(1234567890123456789)
    );
    for id in [
        "",
        "00",
        "07",
        "-7",
        "+7",
        "7a",
        "1.0",
        "12345678901234567890",
    ] {
        assert_eq!(canonical_decimal(id), None, "{id:?}");
    }
    let mut ids = PieceIds::default();
    let got: Vec<u32> = ["7", "07", "x", "7", "007", "x", "0", "07"]
        .iter()
        .map(|id| ids.intern(id))
        .collect();
    assert_eq!(got, [0, 1, 2, 0, 3, 2, 4, 1]);
    assert_eq!(ids.ids(), ["7", "07", "x", "007", "0"]);
}

/// The parallel block reader gives exactly what the streaming reader gives: same ids in the
/// same order, same records, same errors with the same line numbers, whatever the block size.
#[test]
fn every_block_size_reads_the_same() {
    let mut big = String::from("\u{feff}userId,movieId,rating,timestamp\r\n\n");
    for r in 0..500 {
        big += &format!(
            "u{},m{},{}.5,{}\r\n",
            r % 37,
            (r * 7) % 101,
            r % 5,
            1000 + r
        );
        if r % 97 == 0 {
            big += "\n";
        }
    }
    big += "u1,m7,4,9999"; // no final newline, and a duplicate of an earlier pair
    let inputs = [
        big.clone(),
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t242\t5\t1\n".to_string(),
        "1::1193::5::978300760\n\n\n1::661::3::978302109\n".to_string(),
        "a\tb\t1\t2\nc\td\tx\t3\n".to_string(),
        big.replace("u3,m", "u3,,m"),
        // Decimal ids spelled differently are different ids (the numeric fast path).
        "7\t07\t1\n07\t7\t2\n007\t7\t3\n7\t007\t4\n0\t00\t5\n\
         12345678901234567890\t1\t1\n1234567890123456789\t1\t2\n99999999999999999999\t7\t1\n"
            .to_string(),
    ];
    let mut inputs: Vec<Vec<u8>> = inputs.into_iter().map(String::into_bytes).collect();
    // A quoted field spanning lines (a comment column) and quoted delimiters.
    let mut quoted = String::from("user,item,rating,comment\n");
    for r in 0..200 {
        quoted += &format!(
            "u{},\"i,{}\",{},\"line one\nline \"\"two\"\"\"\n",
            r % 13,
            r % 17,
            r % 5
        );
    }
    inputs.push(quoted.into_bytes());
    // Invalid UTF-8 in one line only.
    inputs.push(b"1\t2\t3\n1\t\xff2\t4\n3\t2\t1\n".to_vec());
    for (n, text) in inputs.iter().enumerate() {
        for policy in [
            DuplicatePolicy::Last,
            DuplicatePolicy::Sum,
            DuplicatePolicy::Error,
        ] {
            for skip in [false, true] {
                let opts = ReadOptions {
                    duplicates: policy,
                    skip_bad_rows: skip,
                    ..Default::default()
                };
                let want = read_ratings_from(&text[..], "t", &opts);
                for block in [5, 64, 1 << 20] {
                    let got = read_blocks(&text[..], "t", &opts, block);
                    match (&want, &got) {
                        (Ok((w, wr)), Ok((g, gr))) => {
                            assert_eq!(w.users.ids(), g.users.ids(), "input {n} block {block}");
                            assert_eq!(w.items.ids(), g.items.ids());
                            assert_eq!(w.records, g.records, "input {n} block {block} {policy:?}");
                            assert_eq!(wr, gr);
                        }
                        (Err(w), Err(g)) => {
                            assert_eq!(w.to_string(), g.to_string(), "input {n} block {block}")
                        }
                        _ => panic!(
                            "input {n} block {block} {policy:?} skip {skip}: {:?} vs {:?}",
                            want.as_ref().err(),
                            got.as_ref().err()
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn string_ids_headerless_recs_file() {
    let (r, rep) = read("u17\ti3\t0.52\nu17\ti9\t0.11\n").unwrap();
    assert!(!rep.header);
    assert_eq!(r.len(), 2);
}

#[test]
fn ids_keep_the_one_id_rule_and_the_error_names_the_line() {
    let long = "x".repeat(crate::ids::MAX_ID_CHARS + 1);
    let text = format!("1\t2\t3\n1\t{long}\t4\n");
    let err = read_ratings_from(text.as_bytes(), "t.txt", &ReadOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("t.txt:2: item id") && err.to_string().contains("at most 128"),
        "{err}"
    );
    let err = read("1\t2\t3\n5\ttrending\t4\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.txt:2: item id \"trending\" is reserved"),
        "{err}"
    );
    // A user may be called "trending": only item routes collide.
    assert!(read("trending\t2\t3\n").is_ok());
}
