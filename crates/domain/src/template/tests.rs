use super::*;

const SCHEMA: &Schema = &[
    ("name", VarKind::Text),
    ("order.id", VarKind::Text),
    ("returning", VarKind::Flag),
];

fn ctx(returning: bool) -> Context {
    let mut c = Context::default();
    c.text("name", "王先生").text("order.id", "A123");
    c.flag("returning", returning);
    c
}

fn check(text: &str, returning: bool, expect: Result<&str, TemplateError>) {
    let got = Template::parse(text, SCHEMA).and_then(|t| t.render(&ctx(returning)));
    assert_eq!(got, expect.map(str::to_owned), "{text}");
}

#[test]
fn renders_variables_and_conditions() {
    check("{{name}} 您好", false, Ok("王先生 您好"));
    check("{{ name }}/{{order.id}}", false, Ok("王先生/A123"));
    check("a{% if returning %}b{% endif %}c", true, Ok("abc"));
    check("a{% if returning %}b{% endif %}c", false, Ok("ac"));
    check(
        "{% if returning %}舊{% else %}新{% endif %}",
        false,
        Ok("新"),
    );
    check(
        "{% if not returning %}新{% else %}舊{% endif %}",
        false,
        Ok("新"),
    );
    check(
        "{% if returning %}{% if not returning %}x{% else %}y{% endif %}{% endif %}",
        true,
        Ok("y"),
    );
    check("no tags, } and { alone", true, Ok("no tags, } and { alone"));
}

#[test]
fn unknown_or_misused_variables_fail_at_parse_time() {
    let unknown = |n: &str| TemplateError::UnknownVariable { name: n.into() };
    check("{{customer.nmae}}", true, Err(unknown("customer.nmae")));
    check("{% if vip %}x{% endif %}", true, Err(unknown("vip")));
    check(
        "{{returning}}",
        true,
        Err(TemplateError::FlagAsText {
            name: "returning".into(),
        }),
    );
    check(
        "{% if name %}x{% endif %}",
        true,
        Err(TemplateError::TextAsFlag {
            name: "name".into(),
        }),
    );
    // Even a variable in a branch not taken is checked when saved.
    assert!(Template::parse("{% if returning %}{{nope}}{% endif %}", SCHEMA).is_err());
}

#[test]
fn syntax_errors_name_the_offset() {
    for text in [
        "{{name",
        "{% if returning %}x",
        "{% endif %}",
        "{% else %}",
        "{% if returning %}a{% else %}b{% else %}c{% endif %}",
        "{{ na me }}",
        "{% for x in y %}{% endfor %}",
        "{{}}",
    ] {
        assert!(
            matches!(
                Template::parse(text, SCHEMA),
                Err(TemplateError::Syntax { .. })
            ),
            "{text}"
        );
    }
    let deep = "{% if returning %}".repeat(TEMPLATE_NESTING_MAX + 1);
    assert!(Template::parse(&deep, SCHEMA).is_err());
    let long = "x".repeat(TEMPLATE_BYTES_MAX + 1);
    assert_eq!(Template::parse(&long, SCHEMA), Err(TemplateError::TooLong));
}

#[test]
fn a_missing_value_is_an_error_not_a_blank() {
    let t = Template::parse("訂單 #{{order.id}}", SCHEMA).unwrap();
    let mut c = Context::default();
    c.text("name", "x");
    assert_eq!(
        t.render(&c),
        Err(TemplateError::Missing {
            name: "order.id".into()
        })
    );
    assert_eq!(t.variables(), vec!["order.id".to_owned()]);
}

#[test]
fn arbitrary_text_never_panics() {
    // A small deterministic fuzz: every prefix and suffix of a tricky template.
    let text = "{{name}}{% if returning %}{{ order.id }}{% else %}{%endif%}{{{%}}%}{{";
    for i in 0..=text.len() {
        for j in i..=text.len() {
            if let Some(s) = text.get(i..j)
                && let Ok(t) = Template::parse(s, SCHEMA)
            {
                let _ = t.render(&ctx(true));
            }
        }
    }
}
