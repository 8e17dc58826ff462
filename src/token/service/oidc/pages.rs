//! What the bridge answers a browser: a redirect, a page that opens a
//! Jitsi app, an error page that says what happened and what to do, and
//! the logout.
//!
//! Every answer is `Cache-Control: no-store` (a code or a token is in play)
//! and `Referrer-Policy: no-referrer` (the callback URL carries the code and
//! the return URL the token); pages allow no script and no outside content
//! ([`super::super::response::html`]). Error pages link back to the meeting.
//!
//! Logout follows Jitsi's `tokenLogoutUrl` contract: Jitsi loads the URL
//! in a hidden iframe and waits for `{type: 'logout-success'}` posted from
//! its own origin, which only its `static/logout.html` can do. So the
//! bridge clears its cookies and sends the iframe to the IdP's
//! `end_session_endpoint` with `post_logout_redirect_uri =
//! <jitsi_url>/static/logout.html`, or straight there without one.

use super::super::response::{html as answer, Response};
use http::header::{LOCATION, REFRESH, SET_COOKIE};

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}</style></head>\n\
         <body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape_html(title)
    )
}

/// The body of a failed login: what happened, what the person can do,
/// and a link back to `back` (the meeting they came from, or Jitsi).
pub fn error(what: &str, todo: &str, back: &str) -> String {
    let body = format!(
        "<p>{}</p>\n<p><strong>What to do:</strong> {}</p>\n<p><a href=\"{}\">Back to the meeting</a></p>",
        escape_html(what),
        escape_html(todo),
        escape_html(back)
    );
    html("Login failed", &body)
}

fn with_cookies(
    mut builder: http::response::Builder,
    set_cookies: &[String],
) -> http::response::Builder {
    for c in set_cookies {
        builder = builder.header(SET_COOKIE, c);
    }
    builder
}

/// A 302 to `location` (the IdP, or Jitsi's web client).
pub fn redirect(location: &str, set_cookies: &[String]) -> Response {
    let builder = http::Response::builder()
        .status(302)
        .header(LOCATION, location);
    let body = html(
        "Redirecting",
        &format!("<p><a href=\"{}\">Continue</a></p>", escape_html(location)),
    );
    answer(with_cookies(builder, set_cookies), body)
}

/// The hand-over to a Jitsi app: browsers may need a gesture to open
/// another app's URL scheme, so a 200 page with `Refresh` and a link.
pub fn open_app(url: &str, set_cookies: &[String]) -> Response {
    let builder = http::Response::builder()
        .status(200)
        .header(REFRESH, format!("0; url={url}"));
    let body = format!(
        "<p>You are logged in. Your Jitsi app should open now.</p>\n<p><a href=\"{}\">Open the meeting in the Jitsi app</a></p>",
        escape_html(url)
    );
    answer(
        with_cookies(builder, set_cookies),
        html("Login done, opening the Jitsi app", &body),
    )
}

/// The logout: cookies cleared, the iframe sent on to `next` (the IdP's
/// end_session_endpoint, or Jitsi's `static/logout.html`).
pub fn logout(next: &str, clear_cookies: &[String]) -> Response {
    let builder = http::Response::builder().status(302).header(LOCATION, next);
    let body = html(
        "Logging out",
        &format!("<p><a href=\"{}\">Continue</a></p>", escape_html(next)),
    );
    answer(with_cookies(builder, clear_cookies), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response) -> String {
        String::from_utf8(r.body().to_vec()).unwrap()
    }

    #[test]
    fn pages_escape_what_they_show() {
        let body = error(
            "room <script>",
            "start again & retry",
            "https://meet.example.com/r?a=1&b=2",
        );
        assert!(
            body.contains("room &lt;script&gt;") && body.contains("start again &amp; retry"),
            "{body}"
        );
        assert!(
            body.contains("href=\"https://meet.example.com/r?a=1&amp;b=2\""),
            "{body}"
        );
        let r = redirect("https://x/?a=1&b=\"", &["c=; Max-Age=0".into()]);
        assert_eq!(r.headers()["location"], "https://x/?a=1&b=\"");
        assert_eq!(r.headers()["set-cookie"], "c=; Max-Age=0");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        assert!(text(&r).contains("a=1&amp;b=&quot;"));
    }

    #[test]
    fn an_app_return_is_a_page_with_refresh_and_a_link() {
        let p = open_app("jitsi-meet://meet.example.com/r?jwt=t", &[]);
        assert_eq!(p.status(), 200);
        assert_eq!(
            p.headers()["refresh"],
            "0; url=jitsi-meet://meet.example.com/r?jwt=t"
        );
        assert!(text(&p).contains("href=\"jitsi-meet://meet.example.com/r?jwt=t\""));
    }
}
