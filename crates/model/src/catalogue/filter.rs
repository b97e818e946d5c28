//! Filter expressions over the catalogue: which items a request may get.
//!
//! ```text
//! category = 'Comedy' and not category in ('Horror', 'Thriller')
//! price <= $max and (brand = "Acme" or stock > 0)
//! ```
//!
//! A filter is comparisons joined by `and`, `or`, `not` and parentheses (`not` binds tightest,
//! then `and`, then `or`). A comparison is a field, an operator and a value:
//! - fields: `category` (true when any of the item's categories matches), `itemId`, `title`,
//!   `available`, or an attribute by name (`price`, or `attributes.price`);
//! - operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, and `in (v1, v2, ...)`;
//! - values: numbers, strings in single or double quotes (a doubled quote inside is one
//!   quote), `true`, `false`, or `$name`, a parameter bound from the request.
//!
//! Numbers compare with numbers and text with text; anything else, and any field the item
//! does not have, makes the comparison false: a filter on an unknown attribute matches
//! nothing, it is not an error. A malformed expression is an error naming the character
//! position (1-based) where it went wrong.

use std::collections::HashMap;

use super::{AttributeValue, CatalogueItem};

/// A parsed filter, ready to be bound and evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Field, Op, Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Category,
    ItemId,
    Title,
    Available,
    Attribute(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
    Param(String),
    /// A bound parameter: read as the type of what it is compared with.
    Raw(String),
}

/// Why an expression could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct FilterError {
    /// 1-based character position.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// Longest expression accepted (characters), so a request cannot make parsing expensive.
pub const MAX_FILTER_CHARS: usize = 2000;

impl Filter {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_FILTER_CHARS {
            return Err(FilterError {
                position: MAX_FILTER_CHARS + 1,
                message: format!("the filter is longer than {MAX_FILTER_CHARS} characters"),
            });
        }
        let tokens = lex(&chars)?;
        let mut p = Parser {
            tokens,
            at: 0,
            end: chars.len() + 1,
            depth: 0,
        };
        let expr = p.or()?;
        if let Some((pos, t)) = p.tokens.get(p.at) {
            return Err(FilterError {
                position: *pos,
                message: format!("unexpected {}", t.describe()),
            });
        }
        Ok(Filter { expr })
    }

    /// The `$name` parameters the filter uses.
    pub fn params(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_params(&self.expr, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The filter with its parameters replaced by `values` (a value parses as a number where
    /// it can, as `true`/`false`, else it is text); a parameter without a value is an error.
    pub fn bind(&self, values: &HashMap<String, String>) -> Result<Filter, FilterError> {
        Ok(Filter {
            expr: bind(&self.expr, values)?,
        })
    }

    /// Whether `item` passes. Unbound parameters compare false.
    pub fn matches(&self, item: &CatalogueItem) -> bool {
        eval(&self.expr, item)
    }
}

fn collect_params(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Or(v) | Expr::And(v) => v.iter().for_each(|e| collect_params(e, out)),
        Expr::Not(e) => collect_params(e, out),
        Expr::Cmp(_, _, vals) => out.extend(vals.iter().filter_map(|v| match v {
            Value::Param(p) => Some(p.clone()),
            _ => None,
        })),
    }
}

fn bind(e: &Expr, values: &HashMap<String, String>) -> Result<Expr, FilterError> {
    Ok(match e {
        Expr::Or(v) => Expr::Or(
            v.iter()
                .map(|e| bind(e, values))
                .collect::<Result<_, _>>()?,
        ),
        Expr::And(v) => Expr::And(
            v.iter()
                .map(|e| bind(e, values))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(e) => Expr::Not(Box::new(bind(e, values)?)),
        Expr::Cmp(f, op, vals) => {
            let mut bound = Vec::with_capacity(vals.len());
            for v in vals {
                bound.push(match v {
                    Value::Param(p) => {
                        let raw = values.get(p).ok_or_else(|| FilterError {
                            position: 0,
                            message: format!("the filter needs the parameter ${p}"),
                        })?;
                        Value::Raw(raw.clone())
                    }
                    other => other.clone(),
                });
            }
            Expr::Cmp(f.clone(), *op, bound)
        }
    })
}

fn eval(e: &Expr, item: &CatalogueItem) -> bool {
    match e {
        Expr::Or(v) => v.iter().any(|e| eval(e, item)),
        Expr::And(v) => v.iter().all(|e| eval(e, item)),
        Expr::Not(e) => !eval(e, item),
        Expr::Cmp(field, op, vals) => compare(field, *op, vals, item),
    }
}

fn compare(field: &Field, op: Op, vals: &[Value], item: &CatalogueItem) -> bool {
    let one = |v: &Value, got: &Value| cmp_values(op, got, v);
    match field {
        Field::Category => {
            let cats = || item.categories.iter().map(|c| Value::Text(c.clone()));
            match op {
                Op::Eq | Op::In => cats().any(|c| vals.iter().any(|v| cmp_values(Op::Eq, &c, v))),
                Op::Ne => !cats().any(|c| vals.iter().any(|v| cmp_values(Op::Eq, &c, v))),
                _ => cats().any(|c| vals.iter().any(|v| one(v, &c))),
            }
        }
        _ => {
            let got = match field {
                Field::ItemId => Value::Text(item.item_id.clone()),
                Field::Title => match &item.title {
                    Some(t) => Value::Text(t.clone()),
                    None => return false,
                },
                Field::Available => Value::Bool(item.available),
                Field::Attribute(name) => match item.attributes.get(name) {
                    Some(AttributeValue::Number(n)) => Value::Number(*n),
                    Some(AttributeValue::Text(t)) => Value::Text(t.clone()),
                    Some(AttributeValue::Bool(b)) => Value::Bool(*b),
                    None => return false,
                },
                Field::Category => unreachable!(),
            };
            match op {
                Op::In => vals.iter().any(|v| cmp_values(Op::Eq, &got, v)),
                _ => vals.iter().any(|v| one(v, &got)),
            }
        }
    }
}

fn cmp_values(op: Op, got: &Value, want: &Value) -> bool {
    use std::cmp::Ordering;
    // A request parameter takes the type of the field it is compared with.
    let typed;
    let want = match want {
        Value::Raw(raw) => {
            typed = match got {
                Value::Number(_) => match raw.trim().parse::<f64>() {
                    Ok(n) if n.is_finite() => Value::Number(n),
                    _ => return false,
                },
                Value::Bool(_) => match raw.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return false,
                },
                _ => Value::Text(raw.clone()),
            };
            &typed
        }
        other => other,
    };
    let ord = match (got, want) {
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Eq | Op::In => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Param(String),
    Number(f64),
    Text(String),
    Op(Op),
    LParen,
    RParen,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("{s:?}"),
            Token::Param(s) => format!("${s}"),
            Token::Number(n) => format!("number {n}"),
            Token::Text(s) => format!("text {s:?}"),
            Token::Op(_) => "an operator".into(),
            Token::LParen => "\"(\"".into(),
            Token::RParen => "\")\"".into(),
            Token::Comma => "\",\"".into(),
        }
    }
}

fn lex(chars: &[char]) -> Result<Vec<(usize, Token)>, FilterError> {
    let mut out = Vec::new();
    let mut i = 0;
    let err = |i: usize, message: String| FilterError {
        position: i + 1,
        message,
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '(' => {
                i += 1;
                Token::LParen
            }
            ')' => {
                i += 1;
                Token::RParen
            }
            ',' => {
                i += 1;
                Token::Comma
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Token::Op(Op::Eq)
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Token::Op(Op::Ne)
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                i += if eq { 2 } else { 1 };
                Token::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                })
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "unterminated text".into())),
                        Some(&q) if q == quote => {
                            if chars.get(i + 1) == Some(&quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Token::Text(s)
            }
            '$' => {
                i += 1;
                let name: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .collect();
                if name.is_empty() {
                    return Err(err(start, "a parameter needs a name after \"$\"".into()));
                }
                i += name.chars().count();
                Token::Param(name)
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let text: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                    .collect();
                i += text.chars().count();
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => Token::Number(n),
                    _ => return Err(err(start, format!("{text:?} is not a number"))),
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'))
                    .collect();
                i += word.chars().count();
                Token::Ident(word)
            }
            other => return Err(err(start, format!("unexpected character {other:?}"))),
        };
        out.push((start + 1, token));
    }
    Ok(out)
}

/// Deepest nesting of parentheses and `not`s accepted (recursion stays shallow).
const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    /// Position just past the end, for errors at the end.
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn err(&self, message: impl Into<String>) -> FilterError {
        FilterError {
            position: self.pos(),
            message: message.into(),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.keyword("not") {
            self.at += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        match self.peek() {
            Some(Token::LParen) => {
                self.at += 1;
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Token::RParen) {
                    return Err(self.err("expected \")\""));
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Ident(_)) => self.comparison(),
            Some(t) => Err(self.err(format!("expected a field, found {}", t.describe()))),
            None => Err(self.err("the filter ends where a comparison should be")),
        }
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let Some(Token::Ident(name)) = self.peek().cloned() else {
            unreachable!("primary checked")
        };
        let field = match name.to_ascii_lowercase().as_str() {
            "category" | "categories" => Field::Category,
            "itemid" => Field::ItemId,
            "title" => Field::Title,
            "available" => Field::Available,
            _ => Field::Attribute(name.strip_prefix("attributes.").unwrap_or(&name).to_owned()),
        };
        self.at += 1;
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(t) => {
                return Err(self.err(format!(
                    "expected an operator after {name:?}, found {}",
                    t.describe()
                )))
            }
            None => return Err(self.err(format!("expected an operator after {name:?}"))),
        };
        self.at += 1;
        let values = if op == Op::In {
            if self.peek() != Some(&Token::LParen) {
                return Err(self.err("expected \"(\" after in"));
            }
            self.at += 1;
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.value()?);
            }
            if self.peek() != Some(&Token::RParen) {
                return Err(self.err("expected \",\" or \")\" in the list"));
            }
            self.at += 1;
            values
        } else {
            vec![self.value()?]
        };
        Ok(Expr::Cmp(field, op, values))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let v = match self.peek() {
            Some(Token::Number(n)) => Value::Number(*n),
            Some(Token::Text(s)) => Value::Text(s.clone()),
            Some(Token::Param(p)) => Value::Param(p.clone()),
            Some(Token::Ident(w)) if w == "true" => Value::Bool(true),
            Some(Token::Ident(w)) if w == "false" => Value::Bool(false),
            Some(t) => return Err(self.err(format!("expected a value, found {}", t.describe()))),
            None => return Err(self.err("the filter ends where a value should be")),
        };
        self.at += 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, cats: &[&str], attrs: &[(&str, AttributeValue)]) -> CatalogueItem {
        let mut i = CatalogueItem::new(id);
        i.categories = cats.iter().map(|c| c.to_string()).collect();
        i.attributes = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        i
    }

    fn ok(expr: &str, it: &CatalogueItem) -> bool {
        Filter::parse(expr).unwrap().matches(it)
    }

    #[test]
    fn comparisons_combine_with_and_or_not_and_parentheses() {
        let toy = item(
            "1",
            &["Animation", "Comedy"],
            &[
                ("price", AttributeValue::Number(9.5)),
                ("brand", AttributeValue::Text("Pixar".into())),
            ],
        );
        assert!(ok("category = 'Comedy'", &toy));
        assert!(!ok("category = 'Horror'", &toy));
        assert!(ok("category in ('Horror', \"Animation\")", &toy));
        assert!(ok("category != 'Horror'", &toy));
        assert!(!ok("category != 'Comedy'", &toy));
        assert!(ok("price < 10 and price >= 9.5", &toy));
        assert!(!ok("price > 10 or brand = 'Acme'", &toy));
        assert!(ok("not (price > 10 or brand = 'Acme')", &toy));
        assert!(ok("NOT category = 'Horror' AND itemId = '1'", &toy));
        assert!(ok("attributes.brand = 'Pixar'", &toy));
        // `not` binds tighter than `and`, `and` tighter than `or`.
        assert!(ok(
            "brand = 'Acme' and price > 100 or category = 'Comedy'",
            &toy
        ));
        assert!(!ok(
            "brand = 'Acme' and (price > 100 or category = 'Comedy')",
            &toy
        ));
        // Unknown attributes and mismatched types match nothing; they are not errors.
        assert!(!ok("colour = 'red'", &toy));
        assert!(!ok("brand > 3", &toy));
        assert!(ok("available = true", &toy));
        assert!(ok("title = 'x' or itemId in ('1')", &toy));
    }

    #[test]
    fn parameters_are_bound_from_the_request() {
        let it = item("1", &[], &[("price", AttributeValue::Number(12.0))]);
        let f = Filter::parse("price <= $max and itemId != $skip").unwrap();
        assert_eq!(f.params(), ["max", "skip"]);
        let values: HashMap<String, String> = [
            ("max".to_string(), "15".to_string()),
            ("skip".into(), "2".into()),
        ]
        .into();
        assert!(f.bind(&values).unwrap().matches(&it));
        let low: HashMap<String, String> = [
            ("max".to_string(), "10".to_string()),
            ("skip".into(), "2".into()),
        ]
        .into();
        assert!(!f.bind(&low).unwrap().matches(&it));
        let err = f.bind(&HashMap::new()).unwrap_err();
        assert!(err.message.contains("$max"), "{err}");
    }

    #[test]
    fn malformed_expressions_name_the_position() {
        for (text, pos, what) in [
            ("price <", 8, "value"),
            ("price 5", 7, "operator"),
            ("(category = 'a'", 16, ")"),
            ("category = 'a' or", 18, "comparison"),
            ("category = 'a", 12, "unterminated"),
            ("price = 5 5", 11, "unexpected"),
            ("price # 5", 7, "unexpected character"),
            ("category in 'a'", 13, "\"(\""),
            ("$ = 1", 1, "parameter"),
            ("= 1", 1, "field"),
        ] {
            let err = Filter::parse(text).unwrap_err();
            assert_eq!(err.position, pos, "{text:?}: {err}");
            assert!(err.message.contains(what), "{text:?}: {err}");
        }
        let deep = format!("{}price = 1{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nested"));
        assert!(Filter::parse(&"a".repeat(3000)).is_err());
    }
}
