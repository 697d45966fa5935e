//! The sink's side of SMTP: just what Kratos' courier speaks (EHLO/HELO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), every read bounded.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Mail, Store};

/// The longest command line the sink reads (RFC 5321 allows 512 octets).
pub(super) const MAX_COMMAND: usize = 4096;
/// The longest line of a message (RFC 5321: 1,000 octets; generous).
const MAX_TEXT_LINE: usize = 64 * 1024;
/// The biggest message the sink keeps.
pub(super) const MAX_MESSAGE: usize = 10 << 20;

pub(super) async fn serve(stream: TcpStream, store: &Store) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 orygate-sink ESMTP\r\n").await?;
    let mut from = String::new();
    let mut recipients = Vec::new();
    let mut line = Vec::new();
    loop {
        match bounded_line(&mut lines, &mut line, MAX_COMMAND).await {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                write.write_all(b"500 5.5.2 line too long\r\n").await?;
                return Err(e);
            }
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-orygate-sink\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 orygate-sink\r\n",
            "MAIL" => {
                from = angle_address(&command);
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                recipients.push(angle_address(&command));
                b"250 OK\r\n"
            }
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let raw = match read_data(&mut lines).await {
                    Ok(raw) => raw,
                    Err(e) => {
                        tracing::warn!(error = %e, ?recipients, "smtp sink: message refused");
                        write.write_all(b"552 5.3.4 message too big\r\n").await?;
                        return Err(e);
                    }
                };
                let mail = Mail::parse(std::mem::take(&mut recipients), from.clone(), &raw);
                tracing::debug!(to = ?mail.recipients, subject = %mail.subject, "smtp sink: message");
                store.deliver(&mail);
                b"250 OK queued\r\n"
            }
            "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads one line of at most `limit` bytes into `line`: `false` at the
/// end of the stream, an error for a longer line.
async fn bounded_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<bool> {
    line.clear();
    let read = (&mut *reader)
        .take(limit as u64)
        .read_until(b'\n', line)
        .await?;
    if read == 0 {
        return Ok(false);
    }
    if !line.ends_with(b"\n") && read >= limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line longer than {limit} bytes"),
        ));
    }
    Ok(true)
}

/// Reads a DATA section up to the lone dot, undoing dot-stuffing; a
/// message over [`MAX_MESSAGE`] or a line over [`MAX_TEXT_LINE`] is an
/// error.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    loop {
        if !bounded_line(lines, &mut line, MAX_TEXT_LINE).await? {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(raw);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        if raw.len() + unstuffed.len() > MAX_MESSAGE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a message over {MAX_MESSAGE} bytes"),
            ));
        }
        raw.extend_from_slice(unstuffed);
    }
}

/// `MAIL FROM:<a@b> SIZE=1` -> `a@b`.
pub(super) fn angle_address(command: &str) -> String {
    let inner = command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or("", |(addr, _)| addr);
    inner.trim().to_ascii_lowercase()
}
