//! `#[corral::test]`: a `#[tokio::test]` that fails when the test leaks a task.
//!
//! Use it through the `corral` facade (`#[corral::test]`), which it expands to paths
//! of: the attribute becomes
//! `#[::corral::__private::tokio::test(crate = "::corral::__private::tokio", ...)]`
//! with your arguments, around a body that makes a `corral::leak::LeakGuard` first,
//! runs your test, then awaits `assert_clean()`: a task still alive after the grace
//! period fails the test with its name, spawn file and line, age and parent chain.
//!
//! # When not to use this
//!
//! For a test that leaves tasks running on purpose (it starts a server other tests
//! use), keep `#[tokio::test]` and, if you want a check, build a `LeakGuard` with
//! ignore rules by hand. Outside tests there is nothing to use here.
//!
//! # Examples
//!
//! ```
//! #[corral::test]
//! async fn worker_stops_when_its_channel_closes() {
//!     let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//!     corral::spawn(async move { while rx.recv().await.is_some() {} });
//!     tx.send(1).await.unwrap();
//!     // `tx` is dropped here, the worker ends, the leak check passes.
//! }
//!
//!
//! #[corral::test(flavor = "multi_thread", worker_threads = 2, leak_budget_ms = 500)]
//! async fn slower_shutdown_is_fine() {
//!     let worker = corral::spawn(tokio::time::sleep(std::time::Duration::from_millis(50)));
//!     drop(worker); // detached, but done well within the 500 ms grace period
//! }
//! ```
//!
//! (In a doctest these only compile; the same tests run in `crates/corral/tests/`.)

#![forbid(unsafe_code)]

use proc_macro::{Delimiter, Group, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Marks an `async fn` as a leak-checked tokio test.
///
/// Takes every argument `#[tokio::test]` takes (`flavor`, `worker_threads`,
/// `start_paused`, `unhandled_panic`, ...; `start_paused` needs tokio's `test-util`
/// feature, as with tokio), plus:
///
/// - `leak_budget_ms = N`: the leak check's grace period in milliseconds (default
///   `corral::leak::DEFAULT_BUDGET`).
///
/// The body runs first; then the leak check runs, also when the body returned an
/// error: the error stays the test's result when nothing leaked, and when something
/// did, the failure shows the error above the leak report (an early `?` is a common
/// way to leave workers behind). A body that panics fails the test before any check.
///
/// A function that is not `async` is refused with a compile error:
///
/// ```compile_fail
/// #[corral_macros::test]
/// fn not_async() {}
/// ```
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr, item) {
        Ok(tokens) => tokens,
        Err((message, span)) => compile_error(&message, span),
    }
}

type Error = (String, Span);

fn expand(attr: TokenStream, item: TokenStream) -> Result<TokenStream, Error> {
    let (tokio_args, budget_ms) = split_args(attr)?;
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();

    // The signature is everything before the body; the body is the final brace group.
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        other => {
            let span = other.map_or_else(Span::call_site, |t| t.span());
            return Err((
                "#[corral::test] goes on an `async fn` with a body".into(),
                span,
            ));
        }
    };
    let fn_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .ok_or_else(|| {
            (
                "#[corral::test] goes on an `async fn`".to_string(),
                Span::call_site(),
            )
        })?;
    let is_async = tokens[..fn_at]
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    if !is_async {
        return Err((
            "the `async` keyword is missing from the function declaration: #[corral::test] runs an `async fn`".into(),
            tokens[fn_at].span(),
        ));
    }
    // The return type: whatever follows `->` after the parameter list.
    let params_at = tokens[fn_at..]
        .iter()
        .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis))
        .map(|i| i + fn_at)
        .ok_or_else(|| {
            (
                "expected a parameter list".to_string(),
                tokens[fn_at].span(),
            )
        })?;
    let after_params = &tokens[params_at + 1..];
    let ret: TokenStream = match after_params {
        [TokenTree::Punct(a), TokenTree::Punct(b), rest @ ..]
            if a.as_char() == '-' && b.as_char() == '>' =>
        {
            // Stop at a `where` clause, if any.
            rest.iter()
                .take_while(|t| !matches!(t, TokenTree::Ident(i) if i.to_string() == "where"))
                .cloned()
                .collect()
        }
        _ => "()".parse().unwrap_or_default(),
    };

    let builder = match budget_ms {
        Some(ms) => format!(
            "::corral::leak::LeakGuard::builder().budget(::core::time::Duration::from_millis({ms})).build()"
        ),
        None => "::corral::leak::LeakGuard::new()".to_string(),
    };
    let mut new_body = TokenStream::new();
    new_body.extend(parse(&format!("let __corral_leak_guard = {builder};")));
    new_body.extend(parse("let __corral_test_result:"));
    new_body.extend(ret);
    new_body.extend(parse("= async move"));
    new_body.extend([TokenTree::Group(body.clone())]);
    new_body.extend(parse(
        ".await; {
            #[allow(unused_imports)]
            use ::corral::leak::macro_support::{Failed as _, NotFailed as _};
            let __corral_failed = (&__corral_test_result).__corral_failed();
            ::corral::leak::macro_support::finish(__corral_leak_guard, __corral_failed).await;
        }
        __corral_test_result",
    ));
    let mut wrapped = Group::new(Delimiter::Brace, new_body);
    wrapped.set_span(body.span());

    let mut out = TokenStream::new();
    out.extend(parse("#"));
    let mut attr_body = parse("::corral::__private::tokio::test");
    let mut args = parse("crate = \"::corral::__private::tokio\"");
    if !tokio_args.is_empty() {
        args.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
        args.extend(tokio_args);
    }
    attr_body.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, args))]);
    out.extend([TokenTree::Group(Group::new(Delimiter::Bracket, attr_body))]);
    out.extend(tokens);
    out.extend([TokenTree::Group(wrapped)]);
    Ok(out)
}

/// Splits the attribute's arguments at top-level commas, takes out the corral ones and
/// hands the rest back for tokio.
fn split_args(attr: TokenStream) -> Result<(TokenStream, Option<u64>), Error> {
    let mut args: Vec<Vec<TokenTree>> = vec![Vec::new()];
    for tt in attr {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => args.push(Vec::new()),
            _ => args.last_mut().map_or((), |a| a.push(tt)),
        }
    }
    let mut tokio_args = TokenStream::new();
    let mut budget = None;
    for arg in args.into_iter().filter(|a| !a.is_empty()) {
        let is_budget = matches!(&arg[0], TokenTree::Ident(i) if i.to_string() == "leak_budget_ms");
        if !is_budget {
            if !tokio_args.is_empty() {
                tokio_args.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
            }
            tokio_args.extend(arg);
            continue;
        }
        let value = match arg.as_slice() {
            [_, TokenTree::Punct(eq), TokenTree::Literal(lit)] if eq.as_char() == '=' => {
                lit.to_string().replace('_', "").parse::<u64>().ok()
            }
            _ => None,
        };
        match value {
            Some(ms) => budget = Some(ms),
            None => {
                return Err((
                    "`leak_budget_ms` takes a whole number of milliseconds: `leak_budget_ms = 500`"
                        .into(),
                    arg[0].span(),
                ))
            }
        }
    }
    Ok((tokio_args, budget))
}

fn parse(src: &str) -> TokenStream {
    src.parse().unwrap_or_default()
}

/// `::core::compile_error!("message");` pointing at `span`.
fn compile_error(message: &str, span: Span) -> TokenStream {
    let mut tokens: Vec<TokenTree> = parse("::core::compile_error!").into_iter().collect();
    tokens.push(TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        TokenTree::Literal(Literal::string(message)).into(),
    )));
    tokens.push(TokenTree::Punct(Punct::new(';', Spacing::Alone)));
    tokens
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}
