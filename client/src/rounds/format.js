// Texts of chat rounds: state lines, system events, chat rules (every string through t()).

import { t } from "../i18n/i18n.js";
import { duration, languageName, longTime, parseTime } from "../chat/format.js";

/** "Starts in 10 minutes" / "Open until 18:00" / "Closed", from the round's times. */
export function roundStateText(round, now = Date.now()) {
  const start = parseTime(round.starts_at);
  const end = parseTime(round.ends_at);
  if (start && now < start.getTime()) return t("Starts in {time}", { time: duration((start.getTime() - now) / 1000) });
  if (end && now < end.getTime()) return t("Open now, until {time}", { time: longTime(end) });
  return t("Closed");
}

export function roundState(round, now = Date.now()) {
  const start = parseTime(round.starts_at);
  const end = parseTime(round.ends_at);
  if (start && now < start.getTime()) return "upcoming";
  if (end && now < end.getTime()) return "open";
  return "closed";
}

export function roundLine(round) {
  return t("{language} · {start} · {minutes} minutes", {
    language: languageName(round.language), start: longTime(round.starts_at), minutes: round.duration_minutes,
  });
}

export function placesText(round) {
  return t("{count} of {max} places taken", { count: round.participants, max: round.max_participants });
}

/** A system event; `nameOf(memberId)` gives a participant's name (events name member ids only,
 * so a deleted account's name disappears with it). */
export function roundSystemText(system, nameOf = () => null) {
  const p = (system && system.params) || {};
  const name = (p.member_id && nameOf(p.member_id)) || t("Someone");
  switch (system && system.code) {
    case "joined": return t("{name} joined the chat round.", { name });
    case "left": return t("{name} left the chat round.", { name });
    case "removed": return t("{name} was removed from the chat round.", { name });
    case "muted": return t("{name} cannot write for now.", { name });
    case "unmuted": return t("{name} can write again.", { name });
    case "new_epoch": return t("New key for everyone who is here now.");
    default: return t("Something changed in this chat round.");
  }
}

/** The chat rules shown before joining (must be accepted). */
export function chatRules() {
  return [
    t("Be respectful. No insults, threats or discrimination."),
    t("Do not share your real name, address, phone number or photos."),
    t("What others tell here stays here: do not pass it on."),
    t("The counsellors moderate the chat and can mute or remove participants."),
    t("If you are in danger, use the help button: it is there on every screen."),
  ];
}
