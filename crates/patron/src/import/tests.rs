use super::*;
use app::workload::Rng;

fn opts(format: Format) -> ImportOptions {
    ImportOptions::new(PathBuf::from("test-input"), format, Kind::Orders)
}

fn parse_all(format: Format, input: &[u8]) -> Result<Vec<Parsed>> {
    let mut out = Vec::new();
    let o = opts(format);
    let mut send = |p: Parsed| {
        out.push(p);
        true
    };
    match format {
        Format::Csv => parse_csv(input, &o, &mut send)?,
        Format::Jsonl => parse_jsonl(input, &o, &mut send)?,
        Format::Cdnow => parse_cdnow(input, &o, &mut send)?,
    };
    Ok(out)
}

#[test]
fn money_decimals_are_exact() {
    let twd = Currency::TWD;
    assert_eq!(decimal_to_minor("12.3", twd), Ok(1230));
    assert_eq!(decimal_to_minor("0.07", twd), Ok(7));
    assert_eq!(decimal_to_minor("1200", twd), Ok(120_000));
    assert!(decimal_to_minor("1.234", twd).is_err());
    assert!(decimal_to_minor("-1", twd).is_err());
    assert!(decimal_to_minor("1e3", twd).is_err());
    assert!(decimal_to_minor("", twd).is_err());
    assert!(decimal_to_minor("99999999999999999999", twd).is_err());
    assert_eq!(
        decimal_to_minor("5", Currency::parse("JPY").unwrap()),
        Ok(5)
    );
    assert!(decimal_to_minor("5.1", Currency::parse("JPY").unwrap()).is_err());
}

#[test]
fn csv_rows_group_into_orders_and_bad_rows_name_their_column() {
    let input: &[u8] = b"order_id,customer_id,sku,quantity,unit_price_minor\n\
                 A,c1,TEA,2,45000\n\
                 A,c1,CUP,1,39900\n\
                 B,c2,TEA,x,100\n\
                 C,c2,TEA,1,\xff\n\
                 D,c3,TEA,1,100\n";
    let parsed = parse_all(Format::Csv, input).unwrap();
    let summary: Vec<String> = parsed
        .iter()
        .map(|p| match p {
            Ok((row, Item::Order(o))) => format!("{row}:{}:{}", o.external_id, o.lines.len()),
            Ok((row, Item::Customer(_))) => format!("{row}:customer"),
            Err(r) => format!(
                "{}:{}:{}",
                r.row,
                r.column.clone().unwrap_or_default(),
                r.reason
            ),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "2:A:2",
            "4:quantity:\"x\" is not a whole number",
            "5:unit_price_minor:not valid UTF-8",
            "6:D:1"
        ]
    );
}

#[test]
fn csv_without_a_required_column_is_refused_whole() {
    let err = parse_all(Format::Csv, b"order_id,customer_id,quantity\nA,c,1\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("missing column `sku`"), "{err}");
    let err = parse_all(Format::Csv, b"order_id,sku,unit_price_minor\nA,c,1\n")
        .err()
        .unwrap();
    assert!(err.to_string().contains("customer column"), "{err}");
}

#[test]
fn cdnow_rows_are_orders_by_line() {
    let input = b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  5   77.00\r\n bad\r\n";
    let parsed = parse_all(Format::Cdnow, input).unwrap();
    assert_eq!(parsed.len(), 3);
    let Ok((2, Item::Order(o))) = &parsed[0] else {
        panic!("first row")
    };
    assert_eq!(
        (
            o.external_id.as_str(),
            o.currency.as_str(),
            o.lines[0].unit_price_minor
        ),
        ("line-2", "USD", 1177)
    );
    assert_eq!(o.occurred_at.unwrap().to_string(), "1996-12-31T16:00:00Z");
    assert!(matches!(&parsed[2], Err(r) if r.row == 4));
}

#[test]
fn jsonl_reports_bad_lines() {
    let input = b"{\"external_id\":\"A\",\"customer\":{\"email\":\"a@b.tw\"},\"lines\":[{\"sku\":\"T\",\"quantity\":1,\"unit_price_minor\":5}]}\n\
                  {\"external_id\":\"B\",\"customer\":{},\"lines\":[],\"extra\":1}\n\
                  not json\n";
    let parsed = parse_all(Format::Jsonl, input).unwrap();
    assert!(matches!(&parsed[0], Ok((1, Item::Order(_)))));
    assert!(matches!(&parsed[1], Err(r) if r.row == 2 && r.reason.contains("unknown field")));
    assert!(matches!(&parsed[2], Err(r) if r.row == 3));
}

/// Random bytes and random mutations of valid input never panic the parsers.
#[test]
fn parsers_do_not_panic_on_arbitrary_input() {
    let seeds = [
        "order_id,customer_id,sku,quantity,unit_price_minor,occurred_at,currency\nA,c1,TEA,2,45000,2026-01-02,TWD\n".as_bytes(),
        b" 00001 19970101  1   11.77\r\n",
        b"{\"external_id\":\"A\",\"customer\":{\"id\":1},\"lines\":[{\"sku\":\"T\",\"quantity\":1,\"unit_price_minor\":5}]}\n",
    ];
    let seed = 0x5eed_u64;
    let mut rng = Rng::seeded(seed);
    for case in 0..3_000 {
        let base = seeds[case % seeds.len()];
        let mut input = base.to_vec();
        for _ in 0..rng.below(8) {
            let i = rng.below(input.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if i < input.len() => input[i] = rng.next_u64() as u8,
                1 => input.insert(i, *rng.pick(b",\n\"{}[]:-.0123456789\xff\xfe ")),
                _ if i < input.len() => {
                    input.remove(i);
                }
                _ => {}
            }
        }
        for format in [Format::Csv, Format::Cdnow, Format::Jsonl] {
            // Errors are fine; panics are not (a panic fails the test with the seed below).
            let _ = std::panic::catch_unwind(|| parse_all(format, &input)).unwrap_or_else(|_| {
                panic!("parser {format:?} panicked on case {case} (seed {seed:#x}): {input:?}")
            });
        }
    }
}
