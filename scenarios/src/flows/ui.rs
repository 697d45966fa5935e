//! The journeys through a self-service UI's pages, as a browser takes
//! them ([`harness::form`]): sign-up with the mailed code, login, logout.
//! They read the app's pages by what the app renders for Kratos' nodes
//! (the inputs' names, the buttons' `method` values) and its own ids
//! (`#who`, `#logout`, [`harness::ui`]). Each fails naming the page that
//! was not what the journey expected, so that under load the failure is
//! charged to that page's step.

use harness::form::Page;
use harness::{Error, Expect, Result, Step, transport::Transport};
use reqwest::Method;
use url::Url;

use crate::User;

/// The step of the request that gave `page` (its last hop).
fn page_step(page: &Page) -> String {
    Step::new("browser", Method::GET, &page.url, Expect::Navigate)
        .name()
        .to_owned()
}

/// An error charged to `page`: it is not what `expected` says.
fn not(page: &Page, expected: &str) -> Error {
    let said: Vec<String> = page.texts(".message, .error");
    Error::unexpected(
        page_step(page),
        format!(
            "expected {expected}; the page is {} (HTTP {}){}",
            page.url,
            page.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(", saying {said:?}")
            }
        ),
    )
}

/// Opens the app's login page `login`, fills in `email` and `password`
/// and signs in by password: the page the browser lands on, whatever it
/// is (see [`log_in`] for one that must be the app's welcome).
pub async fn submit_login<T: Transport>(
    t: &T,
    login: &Url,
    email: &str,
    password: &str,
) -> Result<Page> {
    let page = Page::open(t, login).await?;
    let mut form = page.form()?;
    form.fill("identifier", email)?.fill("password", password)?;
    form.submit(t, ("method", "password")).await
}

/// Signs in through the app at `app` and lands on its welcome page, which
/// must name `email` as the one signed in.
pub async fn log_in<T: Transport>(t: &T, app: &Url, email: &str, password: &str) -> Result<Page> {
    let login = app.join("login").expect("a path on the app");
    let page = submit_login(t, &login, email, password).await?;
    expect_signed_in(&page, email)?;
    Ok(page)
}

/// The page is the app's welcome, for `email`.
pub fn expect_signed_in(page: &Page, email: &str) -> Result<()> {
    let who = format!("Signed in as {email}");
    if page.texts("#who") == [who.as_str()] {
        Ok(())
    } else {
        Err(not(page, &format!("the app's welcome page saying {who:?}")))
    }
}

/// Signs out by the welcome page's sign-out link: Kratos ends the session
/// and sends the browser to the app's login.
pub async fn log_out<T: Transport>(t: &T, welcome: &Page) -> Result<Page> {
    let link = welcome
        .link("#logout")
        .ok_or_else(|| not(welcome, "a sign-out link (#logout)"))?;
    let page = welcome.follow(t, &link).await?;
    if page.url.path() == "/login" && page.status == 200 {
        Ok(page)
    } else {
        Err(not(&page, "the app's login page"))
    }
}

/// Signs `user` up through the app at `app`: the traits, then the
/// password (Kratos' two-step registration), then the mailed code (the
/// wait timed as [`crate::journey::mail_step`]) on the verification page
/// it is sent to. Returns the page that says the address is verified
/// (Kratos' 1080002).
pub async fn sign_up<T: Transport>(t: &T, app: &Url, user: &User) -> Result<Page> {
    let person = &user.person;
    let page = Page::open(t, &app.join("registration").expect("a path on the app")).await?;
    let mut form = page.form()?;
    form.fill("traits.email", &person.email)?
        .fill("traits.name.first", &person.first_name)?;
    let page = form.submit(t, ("method", "profile")).await?;
    let mut form = page.form()?;
    form.fill("password", &person.password)?;
    let page = form.submit(t, ("method", "password")).await?;
    if page.url.path() != "/verification" {
        return Err(not(&page, "the app's verification page after sign-up"));
    }
    let page = enter_mailed_code(t, &page, user).await?;
    // Kratos' 1080002: "You successfully verified your email address."
    if page.html.contains("data-id=\"1080002\"") {
        Ok(page)
    } else {
        Err(not(&page, "Kratos' 1080002 (the address verified)"))
    }
}

/// On `page`, whose form asks for a code (verification, recovery): the
/// next code mailed to `user` (the wait timed as
/// [`crate::journey::mail_step`]), submitted by its `method=code` button.
pub async fn enter_mailed_code<T: Transport>(t: &T, page: &Page, user: &User) -> Result<Page> {
    let (_, code) = crate::journey::wait_for_code(t, user).await?;
    let mut form = page.form()?;
    form.fill("code", &code)?;
    form.submit(t, ("method", "code")).await
}
