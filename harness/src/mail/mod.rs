//! The SMTP sink Kratos' courier delivers to, and a mailbox per address.
//!
//! The sink speaks just enough SMTP for a courier (EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT), listens on 127.0.0.1 and files each message in
//! memory under its envelope recipients. A mailbox looks its address up
//! directly and is woken only by mail to it; collected messages are gone,
//! and uncollected ones are dropped (and counted) past an age or a count,
//! so a long load run holds bounded memory.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// How long a mailbox waits for a message by default. The courier polls its
/// queue every second, so a message normally arrives in one or two.
pub const DEFAULT_MAIL_TIMEOUT: Duration = Duration::from_secs(20);

mod message;
mod smtp;

pub use message::Mail;

/// How many undelivered messages the sink keeps at most; past that the
/// oldest are dropped (and counted).
pub const MAX_KEPT: usize = 10_000;

/// The longest the queue of deliveries may grow while an old uncollected
/// message holds its front and newer ones are collected behind it.
const ARRIVALS_KEPT: usize = 4 * MAX_KEPT;

/// How long the sink keeps a message nobody collected.
pub const KEEP_FOR: Duration = Duration::from_secs(600);

/// What the sink did with the messages it received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    /// Messages received, counted once per envelope recipient.
    pub delivered: u64,
    /// Messages handed to a mailbox.
    pub collected: u64,
    /// Messages still waiting to be collected.
    pub waiting: u64,
    /// Messages dropped uncollected: older than [`KEEP_FOR`], or the oldest
    /// when more than [`MAX_KEPT`] were waiting.
    pub dropped: u64,
}

/// One recipient's messages, oldest first, with a sequence number each.
#[derive(Debug, Default)]
struct Inbox {
    mail: VecDeque<(u64, Mail)>,
    /// Woken when a message arrives for this recipient, and only then.
    arrived: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Shelves {
    inboxes: HashMap<String, Inbox>,
    /// Every delivery in order of arrival, (sequence, when, recipient),
    /// including ones collected since: the queue expiry walks. At most
    /// [`ARRIVALS_KEPT`] long.
    arrivals: VecDeque<(u64, Instant, String)>,
    next_seq: u64,
    stats: MailStats,
}

impl Shelves {
    /// Forgets deliveries collected since, and drops uncollected mail
    /// that expired or overflows, oldest first.
    fn expire(&mut self, now: Instant) {
        while let Some((seq, at, rcpt)) = self.arrivals.front() {
            // An inbox hands out its oldest first: a delivery not at the
            // front of its inbox was collected already.
            let waiting = self
                .inboxes
                .get(rcpt)
                .and_then(|inbox| inbox.mail.front())
                .is_some_and(|(s, _)| s == seq);
            if waiting {
                let overflow =
                    self.stats.waiting > MAX_KEPT as u64 || self.arrivals.len() > ARRIVALS_KEPT;
                if !overflow && now.duration_since(*at) < KEEP_FOR {
                    return;
                }
            }
            let (_, _, rcpt) = self.arrivals.pop_front().expect("a front exists");
            if waiting {
                if let Some(inbox) = self.inboxes.get_mut(&rcpt) {
                    inbox.mail.pop_front();
                }
                self.stats.dropped += 1;
                self.stats.waiting -= 1;
                self.forget_if_idle(&rcpt);
            }
        }
    }

    /// Removes an inbox that holds nothing and that nobody waits on.
    fn forget_if_idle(&mut self, rcpt: &str) {
        if self
            .inboxes
            .get(rcpt)
            .is_some_and(|i| i.mail.is_empty() && Arc::strong_count(&i.arrived) == 1)
        {
            self.inboxes.remove(rcpt);
        }
    }
}

#[derive(Debug, Default)]
struct Store {
    shelves: Mutex<Shelves>,
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shelves> {
        self.shelves.lock().expect("mail store lock")
    }

    fn deliver(&self, mail: &Mail) {
        let now = Instant::now();
        let mut shelves = self.lock();
        for rcpt in &mail.recipients {
            let rcpt = rcpt.to_ascii_lowercase();
            let seq = shelves.next_seq;
            shelves.next_seq += 1;
            let inbox = shelves.inboxes.entry(rcpt.clone()).or_default();
            inbox.mail.push_back((seq, mail.clone()));
            inbox.arrived.notify_waiters();
            shelves.arrivals.push_back((seq, now, rcpt));
            shelves.stats.delivered += 1;
            shelves.stats.waiting += 1;
        }
        shelves.expire(now);
    }

    /// The oldest message for `address`, or the notifier to wait on.
    fn take(&self, address: &str) -> Result<Mail, Arc<Notify>> {
        let mut shelves = self.lock();
        let inbox = shelves.inboxes.entry(address.to_owned()).or_default();
        match inbox.mail.pop_front() {
            Some((_, mail)) => {
                shelves.stats.collected += 1;
                shelves.stats.waiting -= 1;
                shelves.forget_if_idle(address);
                Ok(mail)
            }
            None => Err(Arc::clone(&inbox.arrived)),
        }
    }

    /// Ends a wait on `address`: its inbox is forgotten if it is empty and
    /// nobody else waits on it.
    fn release(&self, address: &str, arrived: Arc<Notify>) {
        let mut shelves = self.lock();
        drop(arrived);
        shelves.forget_if_idle(address);
    }
}

/// An SMTP server on 127.0.0.1 that keeps what it receives, bounded in
/// count and age. Stops when dropped.
#[derive(Debug)]
pub struct MailSink {
    addr: SocketAddr,
    /// The port's reservation, for as long as the sink listens.
    _port: crate::Ports,
    mailboxes: Mailboxes,
    task: JoinHandle<()>,
}

impl MailSink {
    /// Binds a free port on 127.0.0.1, reserved as the services' are, and
    /// starts accepting.
    pub async fn start() -> Result<Self> {
        let (port, listener, addr) = crate::Ports::listen("SMTP sink").await?;
        let store = Arc::new(Store::default());
        let accept_store = Arc::clone(&store);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&accept_store);
                tokio::spawn(async move {
                    if let Err(e) = smtp::serve(stream, &store).await {
                        tracing::warn!(error = %e, "smtp sink: session ended with an error");
                    }
                });
            }
        });
        Ok(Self {
            addr,
            _port: port,
            mailboxes: Mailboxes { store },
            task,
        })
    }

    /// Where the sink listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The mailbox of one address (case-insensitive).
    pub fn mailbox(&self, address: &str) -> Mailbox {
        self.mailboxes.open(address)
    }

    /// A handle that opens mailboxes at this sink, for code that outlives a
    /// borrow of it (a load run's users).
    pub fn mailboxes(&self) -> Mailboxes {
        self.mailboxes.clone()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens mailboxes at a [`MailSink`] and reports what it kept and dropped.
#[derive(Debug, Clone)]
pub struct Mailboxes {
    store: Arc<Store>,
}

impl Mailboxes {
    /// The mailbox of one address (case-insensitive).
    pub fn open(&self, address: &str) -> Mailbox {
        Mailbox {
            address: address.to_ascii_lowercase(),
            store: Arc::clone(&self.store),
        }
    }

    /// Counts of what the sink received, handed out, holds and dropped.
    pub fn stats(&self) -> MailStats {
        self.store.lock().stats
    }
}

/// A wait on a mailbox's inbox. When it ends, however it ends (mail, a
/// timeout, the waiting future dropped), the inbox is forgotten if it is
/// empty and nobody else waits on it.
struct Waiter<'m> {
    mailbox: &'m Mailbox,
    arrived: Option<Arc<Notify>>,
}

impl Waiter<'_> {
    fn notify(&self) -> &Notify {
        self.arrived.as_ref().expect("set until dropped")
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(arrived) = self.arrived.take() {
            self.mailbox.store.release(&self.mailbox.address, arrived);
        }
    }
}

/// The messages delivered to one address, in order of arrival. Each message
/// is handed out once.
#[derive(Debug, Clone)]
pub struct Mailbox {
    address: String,
    store: Arc<Store>,
}

impl Mailbox {
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Waits up to `timeout` for the next message to this address. Only a
    /// delivery to this address wakes the wait.
    pub async fn next(&self, timeout: Duration) -> Result<Mail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let waiter = match self.store.take(&self.address) {
                Ok(mail) => return Ok(mail),
                Err(arrived) => Waiter {
                    mailbox: self,
                    arrived: Some(arrived),
                },
            };
            // Register interest, then look again, so a delivery between the
            // look and the wait is not missed.
            let notified = waiter.notify().notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mail) = self.store.take(&self.address) {
                return Ok(mail);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::MailTimeout {
                    address: self.address.clone(),
                    timeout,
                });
            }
        }
    }

    /// Takes every message waiting for this address and returns how many:
    /// what arrives next is then an answer to what the caller does next,
    /// not a late mail from before.
    pub fn clear(&self) -> usize {
        let mut cleared = 0;
        loop {
            match self.store.take(&self.address) {
                Ok(_) => cleared += 1,
                Err(arrived) => {
                    self.store.release(&self.address, arrived);
                    return cleared;
                }
            }
        }
    }

    /// Waits for the next message and reads its one-time code.
    pub async fn next_code(&self, timeout: Duration) -> Result<(Mail, String)> {
        let mail = self.next(timeout).await?;
        match mail.code() {
            Some(code) => Ok((mail, code)),
            None => Err(Error::Mail {
                address: self.address.clone(),
                subject: mail.subject,
                reason: "no six-digit code in the body".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    use super::message::six_digit_code;
    use super::smtp::{MAX_COMMAND, MAX_MESSAGE, angle_address};
    use super::*;

    #[test]
    fn finds_the_six_digit_code_and_not_longer_numbers() {
        assert_eq!(
            six_digit_code("ref 1234567, your code: 048213.").as_deref(),
            Some("048213")
        );
        assert_eq!(six_digit_code("no code 12345 here"), None);
    }

    #[test]
    fn reads_envelope_addresses() {
        assert_eq!(
            angle_address("MAIL FROM:<No-Reply@x.test> SIZE=12"),
            "no-reply@x.test"
        );
        assert_eq!(angle_address("RCPT TO:<a@b.test>"), "a@b.test");
    }

    #[tokio::test]
    async fn delivers_to_every_recipient_over_smtp() {
        let sink = MailSink::start().await.unwrap();
        let stream = TcpStream::connect(sink.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        for cmd in [
            "EHLO test\r\n",
            "MAIL FROM:<from@x.test>\r\n",
            "RCPT TO:<A@x.test>\r\n",
            "RCPT TO:<b@x.test>\r\n",
            "DATA\r\n",
            "Subject: Hi\r\nContent-Type: text/plain\r\n\r\nyour code is 123456\r\n..dot\r\n.\r\n",
            "QUIT\r\n",
        ] {
            write.write_all(cmd.as_bytes()).await.unwrap();
        }
        // Drain the replies so the session completes.
        while read.read_line(&mut line).await.unwrap() > 0 {}
        assert!(line.contains("221"), "{line}");

        let mail = sink
            .mailbox("a@x.test")
            .next(Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(mail.subject, "Hi");
        assert_eq!(mail.code().as_deref(), Some("123456"));
        assert!(mail.text.unwrap().contains("\n.dot"));
        assert!(
            sink.mailbox("B@x.test")
                .next(Duration::from_secs(2))
                .await
                .is_ok()
        );
        let err = sink
            .mailbox("a@x.test")
            .next(Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MailTimeout { .. }), "{err}");
    }

    /// Sends `commands` to a new sink and returns its replies.
    async fn session(sink: &MailSink, commands: &[&[u8]]) -> String {
        let stream = TcpStream::connect(sink.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        for cmd in commands {
            // The sink may close as soon as it has refused.
            if write.write_all(cmd).await.is_err() {
                break;
            }
        }
        let mut replies = String::new();
        let mut read = BufReader::new(read);
        let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_string(&mut replies))
            .await
            .expect("the sink closes within 5 s");
        replies
    }

    #[tokio::test]
    async fn a_command_line_or_a_message_over_the_bounds_is_refused_and_the_session_closed() {
        let sink = MailSink::start().await.unwrap();
        let long = format!("HELO {}\r\n", "x".repeat(MAX_COMMAND));
        let replies = session(&sink, &[long.as_bytes()]).await;
        assert!(
            replies.ends_with("500 5.5.2 line too long\r\n"),
            "{replies}"
        );

        let line = format!("{}\r\n", "y".repeat(1000));
        let body = line.repeat(MAX_MESSAGE / line.len() + 1);
        let replies = session(
            &sink,
            &[
                b"HELO t\r\n",
                b"MAIL FROM:<f@x.test>\r\n",
                b"RCPT TO:<big@x.test>\r\n",
                b"DATA\r\n",
                body.as_bytes(),
                b".\r\nQUIT\r\n",
            ],
        )
        .await;
        assert!(
            replies.ends_with("552 5.3.4 message too big\r\n"),
            "{replies}"
        );
        let nothing = sink
            .mailbox("big@x.test")
            .next(Duration::from_millis(50))
            .await;
        assert!(nothing.is_err(), "a refused message is not delivered");
    }

    fn mail_to(address: &str) -> Mail {
        Mail {
            recipients: vec![address.to_owned()],
            from: "no-reply@x.test".into(),
            subject: "code".into(),
            text: Some("123456".into()),
            html: None,
        }
    }

    #[tokio::test]
    async fn collected_mail_is_gone_and_leaves_no_inbox_behind() {
        let store = Arc::new(Store::default());
        let boxes = Mailboxes {
            store: Arc::clone(&store),
        };
        let waiting = tokio::spawn({
            let mailbox = boxes.open("A@x.test");
            async move { mailbox.next(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        store.deliver(&mail_to("b@x.test"));
        store.deliver(&mail_to("a@x.test"));
        assert_eq!(waiting.await.unwrap().unwrap().recipients, ["a@x.test"]);
        boxes.open("b@x.test").next(Duration::ZERO).await.unwrap();
        store.deliver(&mail_to("e@x.test"));
        store.deliver(&mail_to("e@x.test"));
        assert_eq!(boxes.open("e@x.test").clear(), 2);
        let timed_out = boxes.open("c@x.test").next(Duration::from_millis(10)).await;
        assert!(matches!(timed_out, Err(Error::MailTimeout { .. })));

        assert_eq!(
            boxes.stats(),
            MailStats {
                delivered: 4,
                collected: 4,
                waiting: 0,
                dropped: 0
            }
        );
        assert!(
            store.lock().inboxes.is_empty(),
            "{:?}",
            store.lock().inboxes.keys()
        );
    }

    #[test]
    fn uncollected_mail_is_dropped_past_the_count_or_the_age_and_counted() {
        let store = Store::default();
        for i in 0..MAX_KEPT + 5 {
            store.deliver(&mail_to(&format!("u{i}@x.test")));
        }
        {
            let shelves = store.lock();
            assert_eq!(shelves.stats.dropped, 5);
            assert_eq!(shelves.stats.waiting, MAX_KEPT as u64);
            assert_eq!(shelves.inboxes.len(), MAX_KEPT);
            assert!(
                !shelves.inboxes.contains_key("u0@x.test"),
                "the oldest go first"
            );
            assert!(shelves.inboxes.contains_key("u5@x.test"));
        }
        let later = Instant::now() + KEEP_FOR;
        let mut shelves = store.lock();
        shelves.expire(later);
        assert_eq!(shelves.stats.dropped, MAX_KEPT as u64 + 5);
        assert_eq!(shelves.stats.waiting, 0);
        assert!(shelves.inboxes.is_empty() && shelves.arrivals.is_empty());
    }
}
