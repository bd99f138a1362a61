//! What the checks need from a file's syntax tree, taken before evaluation consumes it: where
//! each call and each of its keyword arguments is, and what each `load()` asks for.

use std::collections::HashMap;

use starlark::codemap::Span;
use starlark::syntax::ast::{ArgumentP, AstExpr, AstLiteral, AstNoPayload, AstStmt, ExprP, StmtP};
use starlark::syntax::AstModule;

pub(crate) type ByteSpan = (u32, u32);

fn bytes(span: Span) -> ByteSpan {
    (span.begin().get(), span.end().get())
}

#[derive(Debug, Clone)]
pub(crate) struct DictEntry {
    pub key: Option<String>,
    pub key_span: ByteSpan,
    pub value_span: ByteSpan,
}

#[derive(Debug, Clone)]
pub(crate) struct KeywordArg {
    pub name: String,
    pub name_span: ByteSpan,
    pub value_span: ByteSpan,
    /// Spans of the elements when the value is a list literal.
    pub elements: Option<Vec<ByteSpan>>,
    /// Entries when the value is a dict literal.
    pub entries: Option<Vec<DictEntry>>,
}

#[derive(Debug, Clone)]
pub(crate) struct CallSite {
    pub callee_span: ByteSpan,
    pub kwargs: Vec<KeywordArg>,
    /// Positional arguments, as keyword arguments with an empty name.
    pub positional: Vec<KeywordArg>,
}

impl CallSite {
    pub fn kwarg(&self, name: &str) -> Option<&KeywordArg> {
        self.kwargs.iter().find(|k| k.name == name)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LoadSite {
    pub module: String,
    pub module_span: ByteSpan,
    /// `(exported name, span of the string naming it)`.
    pub symbols: Vec<(String, ByteSpan)>,
}

#[derive(Debug, Default)]
pub(crate) struct AstIndex {
    /// Calls by the byte offset they start at.
    pub calls: HashMap<u32, CallSite>,
    pub loads: Vec<LoadSite>,
    /// `(byte offset, text)` of every comment.
    pub comments: Vec<(u32, String)>,
    /// Names assigned or defined at the top level.
    pub top_level_names: Vec<String>,
}

impl AstIndex {
    pub fn build(ast: &AstModule, text: &str, with_calls: bool) -> AstIndex {
        let mut index = AstIndex::default();
        for &span in ast.comments() {
            let (start, end) = bytes(span);
            if let Some(comment) = text.get(start as usize..end as usize) {
                index.comments.push((start, comment.to_owned()));
            }
        }
        index.top_level(ast.statement());
        if with_calls {
            index.visit_stmt(ast.statement());
        }
        index
    }

    /// The call that starts at `span`'s start (calls are located by their start offset).
    pub fn call(&self, span: Option<ByteSpan>) -> Option<&CallSite> {
        span.and_then(|(start, _)| self.calls.get(&start))
    }

    fn top_level(&mut self, stmt: &AstStmt) {
        match &stmt.node {
            StmtP::Statements(stmts) => stmts.iter().for_each(|s| self.top_level(s)),
            StmtP::Load(load) => self.loads.push(LoadSite {
                module: load.module.node.clone(),
                module_span: bytes(load.module.span),
                symbols: load
                    .args
                    .iter()
                    .map(|arg| (arg.their.node.clone(), bytes(arg.their.span)))
                    .collect(),
            }),
            StmtP::Def(def) => self.top_level_names.push(def.name.node.ident.clone()),
            StmtP::Assign(assign) => {
                assign
                    .lhs
                    .visit_lvalue(|ident| self.top_level_names.push(ident.node.ident.clone()));
            }
            _ => {}
        }
    }

    fn visit_stmt(&mut self, stmt: &AstStmt) {
        stmt.visit_expr(|expr| self.visit_expr(expr));
        stmt.visit_stmt(|child| self.visit_stmt(child));
    }

    fn visit_expr(&mut self, expr: &AstExpr) {
        if let ExprP::Call(callee, args) = &expr.node {
            let kwargs = args
                .args
                .iter()
                .filter_map(|arg| match &arg.node {
                    ArgumentP::Named(name, value) => {
                        Some(keyword_arg(name.node.clone(), bytes(name.span), value))
                    }
                    _ => None,
                })
                .collect();
            let positional = args
                .args
                .iter()
                .filter_map(|arg| match &arg.node {
                    ArgumentP::Positional(value) => {
                        Some(keyword_arg(String::new(), bytes(value.span), value))
                    }
                    _ => None,
                })
                .collect();
            self.calls.insert(
                expr.span.begin().get(),
                CallSite {
                    callee_span: bytes(callee.span),
                    kwargs,
                    positional,
                },
            );
        }
        expr.visit_expr(|child| self.visit_expr(child));
    }
}

fn keyword_arg(name: String, name_span: ByteSpan, value: &AstExpr) -> KeywordArg {
    let elements = match &value.node {
        ExprP::List(items) | ExprP::Tuple(items) => {
            Some(items.iter().map(|item| bytes(item.span)).collect())
        }
        _ => None,
    };
    let entries = match &value.node {
        ExprP::Dict(entries) => Some(
            entries
                .iter()
                .map(|(key, value)| DictEntry {
                    key: string_literal(key),
                    key_span: bytes(key.span),
                    value_span: bytes(value.span),
                })
                .collect(),
        ),
        _ => None,
    };
    KeywordArg {
        name,
        name_span,
        value_span: bytes(value.span),
        elements,
        entries,
    }
}

fn string_literal(expr: &starlark::syntax::ast::AstExprP<AstNoPayload>) -> Option<String> {
    match &expr.node {
        ExprP::Literal(AstLiteral::String(s)) => Some(s.node.clone()),
        _ => None,
    }
}
