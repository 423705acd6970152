// Groups: create one and share its invite, join one with an invite, open its boards.

import { useState } from "preact/hooks";
import { api, ApiError, type FieldErrors } from "../api";
import { Alert, Card, Field, Link } from "../components";
import { useApp } from "../context";
import { useMyGroups } from "../myGroups";
import type { Group } from "../types";

/** An invite is the group's id and code together, so one string is enough to share. */
export function inviteText(group: Group): string {
  return `${group.id}:${group.invite_code}`;
}

export function parseInvite(text: string): { id: string; code: string } | null {
  const match = /^\s*([0-9a-fA-F-]{36}):([A-Za-z0-9_-]+)\s*$/.exec(text);
  return match ? { id: match[1]!, code: match[2]! } : null;
}

export function GroupsPage() {
  const { user, toast } = useApp();
  const { groups, error, reload } = useMyGroups();
  const [name, setName] = useState("");
  const [invite, setInvite] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [message, setMessage] = useState<string | null>(null);

  const create = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    if (!name.trim()) {
      setErrors({ name: "give the group a name" });
      return;
    }
    try {
      const group = await api.createGroup(name.trim());
      reload();
      setName("");
      toast({ title: `Group "${group.name}" created`, body: "Share its invite with your friends." });
    } catch (e) {
      if (e instanceof ApiError) setErrors(Object.keys(e.fields).length ? e.fields : { name: e.message });
    }
  };

  const join = async (event: Event) => {
    event.preventDefault();
    setErrors({});
    const parsed = parseInvite(invite);
    if (!parsed) {
      setErrors({ invite: "paste the whole invite, as the group's creator shared it (id:code)" });
      return;
    }
    try {
      const group = await api.joinGroup(parsed.id, parsed.code);
      reload();
      setInvite("");
      toast({ title: `You joined "${group.name}"` });
    } catch (e) {
      if (e instanceof ApiError) setErrors({ invite: e.message });
    }
  };

  const leave = async (group: Group) => {
    try {
      await api.leaveGroup(group.id);
    } catch (e) {
      // Already gone from the group is what leaving wants.
      if (!(e instanceof ApiError) || e.status !== 404) {
        setMessage(e instanceof ApiError ? e.message : "Could not leave the group.");
        return;
      }
    }
    reload();
  };

  const copy = async (group: Group) => {
    try {
      await navigator.clipboard.writeText(inviteText(group));
      toast({ title: "Invite copied" });
    } catch {
      toast({ kind: "error", title: "Copy the invite by hand", body: inviteText(group) });
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>Groups</h1>
      </div>
      {message && <Alert>{message}</Alert>}
      {error && <Alert>{error}</Alert>}
      <div class="columns">
        <Card title="Create a group">
          <form onSubmit={create} noValidate aria-label="Create a group">
            <Field label="Group name" name="name" error={errors.name} input={{ value: name, maxLength: 80, onInput: (e) => setName((e.target as HTMLInputElement).value) }} />
            <button type="submit" class="primary">
              Create
            </button>
          </form>
        </Card>
        <Card title="Join a group">
          <form onSubmit={join} noValidate aria-label="Join a group">
            <Field label="Invite" name="invite" hint="The invite someone shared with you" error={errors.invite} input={{ value: invite, onInput: (e) => setInvite((e.target as HTMLInputElement).value) }} />
            <button type="submit" class="primary">
              Join
            </button>
          </form>
        </Card>
      </div>
      <Card title="My groups">
        {groups === null ? (
          <p class="muted">Loading…</p>
        ) : groups.length === 0 ? (
          <p class="empty">No group yet.</p>
        ) : (
          <ul class="groups">
            {groups.map((g) => (
              <li key={g.id} class="group">
                <div class="grow">
                  <strong>{g.name}</strong>
                  <p class="muted">
                    {g.member_count === 1 ? "1 member" : `${g.member_count} members`}
                    {g.owner_id === user.id && " · yours"}
                  </p>
                  <p class="muted">
                    Invite: <code data-invite={g.id}>{inviteText(g)}</code>
                  </p>
                </div>
                <div class="actions">
                  <Link href={`/?group=${g.id}`} class="button secondary">
                    Boards
                  </Link>
                  <button type="button" class="secondary" onClick={() => copy(g)}>
                    Copy invite
                  </button>
                  <button type="button" class="link-button" onClick={() => leave(g)}>
                    Leave
                  </button>
                </div>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
