// The athlete's groups, as the API lists them (`GET /v1/groups`): the scope selector, the
// groups page and the challenge form read them from the server, so a group created or
// joined anywhere (another browser, another device) is there.

import { useCallback, useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api";
import type { MyGroup } from "./types";

export interface MyGroups {
  /** null until the first answer. */
  groups: MyGroup[] | null;
  error: string | null;
  /** Ask again (after creating, joining or leaving one). */
  reload(): void;
}

export function useMyGroups(): MyGroups {
  const [groups, setGroups] = useState<MyGroup[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    let current = true;
    api.myGroups().then(
      (found) => {
        if (!current) return;
        setGroups(found);
        setError(null);
      },
      (e: unknown) => {
        if (current) setError(e instanceof ApiError ? e.message : "Your groups could not be read.");
      },
    );
    return () => {
      current = false;
    };
  }, [asked]);
  const reload = useCallback(() => setAsked((n) => n + 1), []);
  return { groups, error, reload };
}

/** The groups whose owner may create a challenge for them (the API decides; this offers). */
export function ownedBy(groups: MyGroup[], userId: string): MyGroup[] {
  return groups.filter((g) => g.owner_id === userId);
}
