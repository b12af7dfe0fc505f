//! A small, safe template language for replies: `{{ name }}` inserts a text variable,
//! `{% if name %}…{% else %}…{% endif %}` (and `{% if not name %}`) chooses on a flag.
//! Nothing else: no expressions, no loops, no filters, no HTML escaping (replies are plain
//! text). A template is parsed against a [`Schema`] when it is saved, so an unknown variable
//! — or a flag used as text, or text used as a flag — is an error then, not a blank in a sent
//! reply; rendering with a context that lacks a variable the template uses is an error too.
//! Written here rather than taken from a crate because `domain` stays free of dependencies
//! and this subset is all replies need.

use std::collections::BTreeMap;
use std::fmt;

/// Longest template, in bytes.
pub const TEMPLATE_BYTES_MAX: usize = 16 * 1024;
/// Deepest nesting of `{% if %}` blocks.
pub const TEMPLATE_NESTING_MAX: usize = 8;

/// What a variable holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// Inserted with `{{ name }}`.
    Text,
    /// Tested with `{% if name %}`.
    Flag,
}

/// The variables a family of templates may use.
pub type Schema = [(&'static str, VarKind)];

/// Why a template cannot be saved or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("at byte {offset}: {reason}")]
    Syntax { offset: usize, reason: String },
    #[error("unknown variable {name:?}")]
    UnknownVariable { name: String },
    #[error("{name:?} is a flag: test it with {{% if {name} %}}, do not insert it")]
    FlagAsText { name: String },
    #[error("{name:?} is text: insert it with {{{{ {name} }}}}, do not test it")]
    TextAsFlag { name: String },
    #[error("at most {TEMPLATE_BYTES_MAX} bytes")]
    TooLong,
    #[error("no value for {name:?}")]
    Missing { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Var(String),
    If {
        flag: String,
        negate: bool,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// A parsed template, checked against its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// The values to render with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    text: BTreeMap<String, String>,
    flags: BTreeMap<String, bool>,
}

impl Context {
    pub fn text(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.text.insert(name.to_owned(), value.into());
        self
    }

    pub fn flag(&mut self, name: &str, value: bool) -> &mut Self {
        self.flags.insert(name.to_owned(), value);
        self
    }
}

enum Tag<'a> {
    Var(&'a str),
    If { flag: &'a str, negate: bool },
    Else,
    EndIf,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn syntax(offset: usize, reason: impl Into<String>) -> TemplateError {
    TemplateError::Syntax {
        offset,
        reason: reason.into(),
    }
}

fn tag<'a>(offset: usize, open: &str, inner: &'a str) -> Result<Tag<'a>, TemplateError> {
    let inner = inner.trim();
    if open == "{{" {
        return if is_name(inner) {
            Ok(Tag::Var(inner))
        } else {
            Err(syntax(
                offset,
                format!("{{{{ {inner} }}}} is not a variable name"),
            ))
        };
    }
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["if", name] if is_name(name) => Ok(Tag::If {
            flag: name,
            negate: false,
        }),
        ["if", "not", name] if is_name(name) => Ok(Tag::If {
            flag: name,
            negate: true,
        }),
        ["else"] => Ok(Tag::Else),
        ["endif"] => Ok(Tag::EndIf),
        _ => Err(syntax(
            offset,
            format!("unknown tag {{% {inner} %}} (if, if not, else, endif)"),
        )),
    }
}

fn kind_of(schema: &Schema, name: &str) -> Result<VarKind, TemplateError> {
    schema
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .ok_or_else(|| TemplateError::UnknownVariable {
            name: name.to_owned(),
        })
}

/// One open block while parsing: the nodes before it, and its then-branch once `else` is met.
struct Open {
    offset: usize,
    flag: String,
    negate: bool,
    before: Vec<Node>,
    then: Option<Vec<Node>>,
}

impl Template {
    /// Parses and checks `text` against `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Template, TemplateError> {
        if text.len() > TEMPLATE_BYTES_MAX {
            return Err(TemplateError::TooLong);
        }
        let mut stack: Vec<Open> = Vec::new();
        let mut current: Vec<Node> = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        loop {
            let next = [rest.find("{{"), rest.find("{%")]
                .into_iter()
                .flatten()
                .min();
            let Some(start) = next else {
                if !rest.is_empty() {
                    current.push(Node::Text(rest.to_owned()));
                }
                break;
            };
            if start > 0 {
                current.push(Node::Text(rest[..start].to_owned()));
            }
            let open = &rest[start..start + 2];
            let close = if open == "{{" { "}}" } else { "%}" };
            let at = offset + start;
            let Some(len) = rest[start + 2..].find(close) else {
                return Err(syntax(at, format!("{open} is not closed with {close}")));
            };
            let inner = &rest[start + 2..start + 2 + len];
            match tag(at, open, inner)? {
                Tag::Var(name) => {
                    if kind_of(schema, name)? != VarKind::Text {
                        return Err(TemplateError::FlagAsText {
                            name: name.to_owned(),
                        });
                    }
                    current.push(Node::Var(name.to_owned()));
                }
                Tag::If { flag, negate } => {
                    if kind_of(schema, flag)? != VarKind::Flag {
                        return Err(TemplateError::TextAsFlag {
                            name: flag.to_owned(),
                        });
                    }
                    if stack.len() >= TEMPLATE_NESTING_MAX {
                        return Err(syntax(
                            at,
                            format!("at most {TEMPLATE_NESTING_MAX} nested if blocks"),
                        ));
                    }
                    stack.push(Open {
                        offset: at,
                        flag: flag.to_owned(),
                        negate,
                        before: std::mem::take(&mut current),
                        then: None,
                    });
                }
                Tag::Else => {
                    let Some(top) = stack.last_mut().filter(|o| o.then.is_none()) else {
                        return Err(syntax(at, "{% else %} outside an if block"));
                    };
                    top.then = Some(std::mem::take(&mut current));
                }
                Tag::EndIf => {
                    let Some(open) = stack.pop() else {
                        return Err(syntax(at, "{% endif %} without an if"));
                    };
                    let branch = std::mem::take(&mut current);
                    let (then, otherwise) = match open.then {
                        Some(then) => (then, branch),
                        None => (branch, Vec::new()),
                    };
                    current = open.before;
                    current.push(Node::If {
                        flag: open.flag,
                        negate: open.negate,
                        then,
                        otherwise,
                    });
                }
            }
            let consumed = start + 2 + len + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if let Some(open) = stack.last() {
            return Err(syntax(
                open.offset,
                "{% if %} is not closed with {% endif %}",
            ));
        }
        Ok(Template { nodes: current })
    }

    /// The text, with every variable the taken branches use present in `ctx`.
    pub fn render(&self, ctx: &Context) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, ctx, &mut out)?;
        Ok(out)
    }

    /// Every variable the template mentions, in either branch.
    pub fn variables(&self) -> Vec<String> {
        let mut names = Vec::new();
        collect(&self.nodes, &mut names);
        names.sort();
        names.dedup();
        names
    }
}

fn collect(nodes: &[Node], names: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Text(_) => {}
            Node::Var(name) => names.push(name.clone()),
            Node::If {
                flag,
                then,
                otherwise,
                ..
            } => {
                names.push(flag.clone());
                collect(then, names);
                collect(otherwise, names);
            }
        }
    }
}

fn render_nodes(nodes: &[Node], ctx: &Context, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Var(name) => {
                let value = ctx
                    .text
                    .get(name)
                    .ok_or_else(|| TemplateError::Missing { name: name.clone() })?;
                out.push_str(value);
            }
            Node::If {
                flag,
                negate,
                then,
                otherwise,
            } => {
                let value = *ctx
                    .flags
                    .get(flag)
                    .ok_or_else(|| TemplateError::Missing { name: flag.clone() })?;
                let branch = if value != *negate { then } else { otherwise };
                render_nodes(branch, ctx, out)?;
            }
        }
    }
    Ok(())
}

impl fmt::Display for VarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarKind::Text => "text",
            VarKind::Flag => "flag",
        })
    }
}

#[cfg(test)]
mod tests;
