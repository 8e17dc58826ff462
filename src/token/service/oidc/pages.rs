//! What the bridge answers a browser: a redirect, a page that opens a
//! Jitsi app, an error page that says what happened and what to do, and
//! the logout.
//!
//! Every answer is `Cache-Control: no-store` (a code or a token is in play)
//! and `Referrer-Policy: no-referrer` (the callback URL carries the code and
//! the return URL the token); pages allow no script and no outside content.
//!
//! Logout follows Jitsi's `tokenLogoutUrl` contract: Jitsi loads the URL
//! in a hidden iframe and waits for `{type: 'logout-success'}` posted from
//! its own origin, which only its `static/logout.html` can do. So the
//! bridge clears its cookies and sends the iframe to the IdP's
//! `end_session_endpoint` with `post_logout_redirect_uri =
//! <jitsi_url>/static/logout.html`, or straight there without one.

/// An answer to the browser, turned into an HTTP response by `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Headers beyond the defaults (`Location`, `Set-Cookie`, `Refresh`).
    pub headers: Vec<(&'static str, String)>,
    /// `text/html; charset=utf-8`.
    pub body: String,
}

/// Headers every bridge answer carries.
pub const COMMON_HEADERS: [(&str, &str); 5] = [
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
    ),
    ("x-content-type-options", "nosniff"),
];

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

/// A failed login: `status`, what happened, what the person can do.
pub fn error(status: u16, what: &str, todo: &str, set_cookies: Vec<String>) -> Page {
    let body = format!(
        "<p>{}</p>\n<p><strong>What to do:</strong> {}</p>",
        escape_html(what),
        escape_html(todo)
    );
    Page {
        status,
        headers: set_cookies.into_iter().map(|c| ("set-cookie", c)).collect(),
        body: html("Login failed", &body),
    }
}

/// A 302 to `location` (the IdP, or Jitsi's web client).
pub fn redirect(location: &str, set_cookies: Vec<String>) -> Page {
    let mut headers = vec![("location", location.to_owned())];
    headers.extend(set_cookies.into_iter().map(|c| ("set-cookie", c)));
    Page {
        status: 302,
        headers,
        body: html(
            "Redirecting",
            &format!("<p><a href=\"{}\">Continue</a></p>", escape_html(location)),
        ),
    }
}

/// The hand-over to a Jitsi app: browsers may need a gesture to open
/// another app's URL scheme, so a 200 page with `Refresh` and a link.
pub fn open_app(url: &str, set_cookies: Vec<String>) -> Page {
    let mut headers = vec![("refresh", format!("0; url={url}"))];
    headers.extend(set_cookies.into_iter().map(|c| ("set-cookie", c)));
    let body = format!(
        "<p>You are logged in. Your Jitsi app should open now.</p>\n<p><a href=\"{}\">Open the meeting in the Jitsi app</a></p>",
        escape_html(url)
    );
    Page {
        status: 200,
        headers,
        body: html("Login done, opening the Jitsi app", &body),
    }
}

/// The logout: cookies cleared, the iframe sent on to `next` (the IdP's
/// end_session_endpoint, or Jitsi's `static/logout.html`).
pub fn logout(next: &str, clear_cookies: Vec<String>) -> Page {
    let mut page = redirect(next, clear_cookies);
    page.body = html(
        "Logging out",
        &format!("<p><a href=\"{}\">Continue</a></p>", escape_html(next)),
    );
    page
}

/// Jitsi's own page answering the hidden-iframe logout contract.
pub fn jitsi_logout_page(jitsi_url: &str) -> String {
    format!("{}/static/logout.html", jitsi_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let p = error(
            400,
            "room <script>",
            "start again & retry",
            vec!["c=; Max-Age=0".into()],
        );
        assert_eq!(p.status, 400);
        assert!(
            p.body.contains("room &lt;script&gt;") && p.body.contains("start again &amp; retry"),
            "{}",
            p.body
        );
        assert_eq!(p.headers, vec![("set-cookie", "c=; Max-Age=0".to_owned())]);
        let r = redirect("https://x/?a=1&b=\"", vec![]);
        assert_eq!(r.headers[0], ("location", "https://x/?a=1&b=\"".to_owned()));
        assert!(r.body.contains("a=1&amp;b=&quot;"));
    }

    #[test]
    fn an_app_return_is_a_page_with_refresh_and_a_link() {
        let p = open_app("jitsi-meet://meet.example.com/r?jwt=t", vec![]);
        assert_eq!(p.status, 200);
        assert_eq!(
            p.headers[0],
            (
                "refresh",
                "0; url=jitsi-meet://meet.example.com/r?jwt=t".to_owned()
            )
        );
        assert!(p
            .body
            .contains("href=\"jitsi-meet://meet.example.com/r?jwt=t\""));
        assert_eq!(
            jitsi_logout_page("https://meet.example.com/"),
            "https://meet.example.com/static/logout.html"
        );
    }
}
