// The signed-in layout: header, navigation and the page for the current path.

import { useEffect } from "preact/hooks";
import { Link } from "./components";
import { useApp } from "./context";
import { AdminPage } from "./pages/admin";
import { BadgesPage } from "./pages/badges";
import { ChallengesPage } from "./pages/challenges";
import { GroupsPage } from "./pages/groups";
import { LeaderboardPage } from "./pages/leaderboard";
import { LogWorkoutPage } from "./pages/logWorkout";
import { ProfilePage } from "./pages/profile";
import { ReportPage } from "./pages/report";
import { WorkoutsPage } from "./pages/workouts";
import { usePath } from "./router";

interface Page {
  path: string;
  label: string;
  title: string;
  render: () => preact.JSX.Element;
  adminOnly?: boolean;
}

const PAGES: Page[] = [
  { path: "/", label: "Leaderboard", title: "Leaderboard", render: () => <LeaderboardPage /> },
  { path: "/log", label: "Log workout", title: "Log a workout", render: () => <LogWorkoutPage /> },
  { path: "/workouts", label: "My training", title: "My training", render: () => <WorkoutsPage /> },
  { path: "/badges", label: "Badges", title: "My badges", render: () => <BadgesPage /> },
  { path: "/report", label: "Report", title: "Monthly report", render: () => <ReportPage /> },
  { path: "/groups", label: "Groups", title: "Groups", render: () => <GroupsPage /> },
  { path: "/challenges", label: "Challenges", title: "Challenges", render: () => <ChallengesPage /> },
  { path: "/profile", label: "Profile", title: "Profile", render: () => <ProfilePage /> },
  { path: "/admin", label: "Admin", title: "Administration", render: () => <AdminPage />, adminOnly: true },
];

const STATUS_TEXT = { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" } as const;

export function Shell() {
  const { user, liveStatus, signOut } = useApp();
  const path = usePath();
  const pages = PAGES.filter((page) => !page.adminOnly || user.is_admin);
  const page = pages.find((p) => p.path === path);

  useEffect(() => {
    document.title = page ? `${page.title} · fitboard` : "Not found · fitboard";
  }, [page]);

  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/" class="brand">
          <span class="brand-mark" aria-hidden="true">
            ▲
          </span>
          fitboard
        </Link>
        <span class={`live-status ${liveStatus}`} data-live-status={liveStatus}>
          <span class="dot" aria-hidden="true" />
          {STATUS_TEXT[liveStatus]}
        </span>
        <span class="whoami">
          <span class="who">{user.display_name}</span>
          <button type="button" class="link-button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <nav class="nav" aria-label="Main">
        <ul>
          {pages.map((p) => (
            <li key={p.path}>
              <Link href={p.path} current={p.path === path}>
                {p.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        {page ? (
          page.render()
        ) : (
          <section class="card">
            <h1>Page not found</h1>
            <p>
              There is nothing at {path}. <Link href="/">Back to the leaderboard</Link>
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
