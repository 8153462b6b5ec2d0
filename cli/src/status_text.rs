//! Statuses as a person reads them: the RTR name and the text
//! `rtr_error_text` gives (`rtr_core::status::text_for_code`), never a
//! number or a Rust debug form such as `Some((410, 0))`.

use rtr_core::status::text_for_code;
use rtr_core::{Message, Status};

/// `RTR_STS_NODSTFND`, or `status 12345` for a value that is no status.
pub fn name(code: i32) -> String {
    Status::from_code(code).map_or_else(|| format!("status {code}"), |s| s.name().to_string())
}

/// `RTR_STS_NODSTFND (No destination found: no server is available for the key)`.
pub fn describe(code: i32) -> String {
    format!("{} ({})", name(code), text_for_code(code))
}

/// The status a message carries (opened, closed, accepted, rejected,
/// prepared), with the reason when there is one; `None` for other messages.
pub fn of_message(m: &Message) -> Option<String> {
    let (code, reason) = m.status()?;
    Some(if reason == 0 { describe(code) } else { format!("{}, reason {reason}", describe(code)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_texts_of_statuses_and_of_other_values() {
        let code = Status::Nodstfnd.code();
        assert_eq!(name(code), "RTR_STS_NODSTFND");
        assert_eq!(describe(code), format!("RTR_STS_NODSTFND ({})", Status::Nodstfnd.text()));
        assert_eq!(name(-7), "status -7");
        assert!(describe(-7).starts_with("status -7 ("), "{}", describe(-7));
    }
}
