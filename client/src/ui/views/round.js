// One chat round: the rules (accepted before joining), who is here (nicknames only), the
// end-to-end encrypted group chat, and for counsellors the moderator controls (mute, remove).
// A counsellor's page also re-keys the round whenever someone joins or leaves.

import { h, clear } from "../dom.js";
import { t } from "../../i18n/i18n.js";
import { directionOf } from "../../i18n/bidi.js";
import { shortTime } from "../../chat/format.js";
import {
  connectionBanner, describeChatError, isCounsellor, requireAccount, unreadableText, viewScope,
} from "../../chat/ui.js";
import { RoundSession } from "../../rounds/session.js";
import { chatRules, roundLine, roundState, roundStateText, roundSystemText } from "../../rounds/format.js";

export const path = "/round/:id";
export const title = () => t("Chat round");

export async function render(container, ctx) {
  const heading = t("Chat round");
  const account = await requireAccount(container, heading);
  if (!account) return;
  const counsellor = isCounsellor(account);
  const session = new RoundSession(ctx.params.id);

  const titleEl = h("h1", { id: "round-title", dir: "auto" }, heading);
  const meta = h("p", { class: "round-meta" });
  const stateEl = h("p", { class: "round-state", "data-testid": "round-state" });
  const notice = h("p", { class: "notice round-notice", role: "status", "aria-live": "polite", hidden: true });
  const error = h("p", { class: "error-box", role: "alert", hidden: true });
  // Trust on first use (docs/protocol.md 8.6): keys of a participant that changed on the server.
  const keyWarnings = h("div", { class: "round-key-warnings", role: "alert", hidden: true });
  const membersList = h("ul", { class: "round-members", "aria-labelledby": "round-members-title" });
  const membersBox = h("section", { class: "round-members-box", hidden: true },
    h("h2", { id: "round-members-title" }, t("Who is here")), membersList);
  const log = h("ol", { class: "round-log", "aria-live": "polite", "aria-label": t("Messages") });
  const input = h("textarea", { id: "round-input", rows: 2, maxlength: 4000, dir: "auto", "aria-label": t("Your message") });
  const sendButton = h("button", { class: "button primary", type: "submit" }, t("Send"));
  const composer = h("form", { class: "round-composer", hidden: true }, input, sendButton);
  const leaveButton = h("button", { class: "button round-leave", type: "button", hidden: true }, t("Leave the chat round"));
  const rulesBox = h("section", { class: "card round-rules", hidden: true, "aria-labelledby": "round-rules-title" });
  const root = h("section", { class: "round-page" },
    h("p", {}, h("a", { href: "#/rounds" }, t("All chat rounds"))),
    titleEl, meta, stateEl, notice, error, keyWarnings, rulesBox, membersBox, log, composer, leaveButton);
  container.append(root);
  const scope = viewScope(container, root);
  root.prepend(connectionBanner(scope));
  scope.add(() => session.dispose());

  const showError = (e) => { error.textContent = describeChatError(e); error.hidden = false; };

  const drawHeader = () => {
    const round = session.round;
    if (!round) return;
    titleEl.textContent = round.topic;
    meta.textContent = t("{details} · {team}", { details: roundLine(round), team: round.site.name });
    stateEl.textContent = roundStateText(round);
    stateEl.dataset.state = roundState(round);
  };

  const drawNotice = () => {
    let text = "";
    const me = session.me;
    if (session.removed) text = t("A counsellor has removed you from this chat round.");
    else if (session.left) text = t("You have left the chat round.");
    else if (me && me.state === "waiting") text = t("Waiting to be admitted: a counsellor's device has to hand you the key of this chat round.");
    else if (me && me.muted) text = t("You cannot write in this chat round at the moment.");
    else if (session.departurePending) text = t("Please wait a moment: the key of this chat round is being renewed.");
    else if (session.round && roundState(session.round) === "upcoming") text = t("The chat round has not started yet. You can write once it is open.");
    else if (session.round && roundState(session.round) === "closed") text = t("This chat round has ended.");
    notice.textContent = text;
    notice.hidden = !text;
    const taking = me && ["waiting", "admitted"].includes(me.state) && !session.left && !session.removed;
    composer.hidden = !taking;
    sendButton.disabled = !session.canSend() || roundState(session.round) !== "open";
    leaveButton.hidden = !taking;
  };

  const drawKeyWarnings = () => {
    clear(keyWarnings);
    const changed = session.changedMembers();
    keyWarnings.hidden = changed.length === 0;
    for (const m of changed) {
      const text = session.moderator
        ? t("The server now lists a different key for {name}. Only messages with the earlier key are shown, and nobody gets a new key for this chat round until you decide: trust the new key only if you are sure it is still the same person, otherwise remove them.", { name: m.name })
        : t("The server now lists a different key for {name}. Only messages with the earlier key are shown.", { name: m.name });
      const box = h("p", { class: "warning-box round-key-warning", dataset: { memberId: m.member_id } },
        h("span", { dir: "auto" }, text));
      if (session.moderator) {
        box.append(" ", h("button", { class: "button small round-trust-key", type: "button", onclick: () => {
          if (window.confirm(t("Trust the new key of {name}?", { name: m.name }))) session.trustNewKey(m.member_id).catch(showError);
        } }, t("Trust the new key")));
      }
      keyWarnings.append(box);
    }
  };

  const drawMembers = () => {
    drawKeyWarnings();
    clear(membersList);
    const active = [...session.members.values()].filter((m) => m.state === "waiting" || m.state === "admitted");
    membersBox.hidden = !session.me && !session.moderator;
    for (const m of active) {
      const labels = [];
      if (m.role === "counsellor") labels.push(t("counsellor"));
      if (m.state === "waiting") labels.push(t("waiting"));
      if (m.muted) labels.push(t("muted"));
      if (session.keyChanged.has(m.member_id)) labels.push(t("key changed"));
      const item = h("li", { class: "round-member", dataset: { memberId: m.member_id, role: m.role } },
        h("span", { class: "round-member-name", dir: "auto" }, m.name),
        labels.length ? h("span", { class: "round-member-tags" }, ...labels.map((label) => h("span", { class: "round-tag" }, label))) : null);
      if (session.moderator && m.role === "young_person") {
        item.append(
          h("button", { class: "button small", type: "button", onclick: () => session.mute(m.member_id, !m.muted).catch(showError) },
            m.muted ? t("Allow writing") : t("Mute")),
          h("button", { class: "button small danger", type: "button", onclick: () => {
            if (window.confirm(t("Remove {name} from this chat round?", { name: m.name }))) session.remove(m.member_id).catch(showError);
          } }, t("Remove")));
      }
      membersList.append(item);
    }
  };

  const drawMessages = () => {
    clear(log);
    for (const item of session.sorted()) {
      if (item.kind === "system") {
        log.append(h("li", { class: "round-msg system", dataset: { seq: item.seq } }, roundSystemText(item.system, (id) => session.members.get(id)?.name)));
        continue;
      }
      const sender = session.members.get(item.senderId);
      const mine = session.me && item.senderId === session.me.member_id;
      const name = mine ? t("You") : (sender ? sender.name : t("Someone"));
      const body = item.error ? unreadableText(item.error) : item.text;
      log.append(h("li", {
        class: `round-msg${mine ? " mine" : ""}${sender && sender.role === "counsellor" ? " counsellor" : ""}${item.error ? " unreadable" : ""}`,
        dataset: { seq: item.seq, epoch: item.epoch },
      },
      h("span", { class: "round-msg-name", dir: "auto" }, name),
      h("span", { class: "round-msg-body", dir: item.error ? "auto" : directionOf(body) }, body),
      h("span", { class: "round-msg-time" }, shortTime(item.created_at || Date.now()))));
    }
  };

  const drawAll = () => { drawHeader(); drawNotice(); drawMembers(); drawMessages(); };
  scope.add(session.onChange(() => { if (scope.alive) drawAll(); }));
  scope.interval(() => { if (session.round) { drawHeader(); drawNotice(); } }, 15000);

  const showRules = () => {
    const accept = h("input", { type: "checkbox", id: "round-rules-accept" });
    const join = h("button", { class: "button primary", type: "button", disabled: true }, t("Join the chat round"));
    accept.addEventListener("change", () => { join.disabled = !accept.checked; });
    join.addEventListener("click", async () => {
      join.disabled = true;
      try {
        await session.join(true);
        rulesBox.hidden = true;
      } catch (e) {
        showError(e);
        join.disabled = false;
      }
    });
    clear(rulesBox).append(
      h("h2", { id: "round-rules-title" }, t("Chat rules")),
      h("ul", {}, ...chatRules().map((rule) => h("li", {}, rule))),
      h("p", { class: "field" }, accept, h("label", { for: "round-rules-accept" }, t("I accept the chat rules."))),
      join);
    rulesBox.hidden = false;
  };

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !session.canSend()) return;
    sendButton.disabled = true;
    try {
      await session.send(text);
      input.value = "";
      error.hidden = true;
    } catch (e) {
      showError(e);
    } finally {
      drawNotice();
    }
  });
  leaveButton.addEventListener("click", () => session.leave().catch(showError));

  session.listen();
  try {
    if (counsellor) {
      await session.join(true);
    } else {
      const round = await session.peek();
      if (round && (round.my_state === "waiting" || round.my_state === "admitted")) await session.join(true);
      else if (round && round.my_state === "removed") session.removed = true;
      else showRules();
    }
  } catch (e) {
    showError(e);
  }
  drawAll();
}
