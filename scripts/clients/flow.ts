// A citizen's path through Mawid with openapi-fetch over the types openapi-typescript generated
// from the served contract (scripts/clients.sh): register, verify from the mail file, sign in,
// read the availability, book, reschedule, cancel, open a document request, track it, and read a
// 422 as a typed problem. `tsc` checks every call against the contract before it runs; any answer
// other than the expected one fails the run.
//
// Usage: node flow.js BASE_URL MAIL_DIR
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Problem = components["schemas"]["Problem"];

const [baseUrl, mailDir] = process.argv.slice(2);
const email = `typescript-${Date.now()}@clients.test`;
const password = "typescript-client-pass";

function fail(message: string): never {
  console.error(`typescript client: ${message}`);
  process.exit(1);
}

// The parsed body of an answer with the expected status, or the end of the run.
function expect<T>(what: string, status: number, result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.status !== status) {
    fail(`${what}: expected ${status}, got ${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The code in the decoded copy of the verification mail; the mail worker polls every second.
async function verificationToken(): Promise<string> {
  for (let i = 0; i < 60; i++) {
    for (const name of readdirSync(mailDir).filter((n) => n.endsWith(".txt")).sort()) {
      const text = readFileSync(join(mailDir, name), "utf8");
      if (!`\n${text}`.includes(`\nTo: ${email}\n`)) continue;
      const found = text.match(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/);
      if (found) return found[0];
    }
    await sleep(500);
  }
  fail("no verification mail");
}

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

const api = createClient<paths>({ baseUrl });

expect(
  "register",
  202,
  await api.POST("/api/v1/auth/register", {
    body: { email, password, full_name: "Ольга Сафарова", preferred_language: "ru" },
  }),
);
expect("verify", 204, await api.POST("/api/v1/auth/verify-email", { body: { token: await verificationToken() } }));
const pair = expect("login", 200, await api.POST("/api/v1/auth/login", { body: { email, password } }));
api.use({
  onRequest({ request }) {
    request.headers.set("Authorization", `Bearer ${pair.access_token}`);
    return request;
  },
});

const office = expect("offices", 200, await api.GET("/api/v1/offices", {})).items[0];
const catalogue = expect("services", 200, await api.GET("/api/v1/services", {})).items;
const service = (code: string) => catalogue.find((s) => s.code === code) ?? fail(`no service ${code}`);
const attorney = service("power-of-attorney");
const birth = service("civil-registry-birth");

const free = expect(
  "availability",
  200,
  await api.GET("/api/v1/offices/{id}/availability", {
    params: { path: { id: office.id }, query: { service_id: attorney.id, from: day(3), to: day(30) } },
  }),
);
if (free.slots.length < 2) fail(`${free.slots.length} free slots, need two`);

const booked = expect(
  "book",
  201,
  await api.POST("/api/v1/appointments", {
    body: {
      office_id: office.id,
      service_id: attorney.id,
      start: free.slots[0].start,
      applicant: { passport_number: "P7654321" },
    },
  }),
);
const moved = expect(
  "reschedule",
  200,
  await api.POST("/api/v1/appointments/{id}/reschedule", {
    params: { path: { id: booked.id } },
    body: { start: free.slots[1].start },
  }),
);
if (Date.parse(moved.start) !== Date.parse(free.slots[1].start)) fail(`rescheduled to ${moved.start}`);
const cancelled = expect(
  "cancel",
  200,
  await api.POST("/api/v1/appointments/{id}/cancel", {
    params: { path: { id: booked.id } },
    body: { reason: "plans changed" },
  }),
);
if (cancelled.status !== "cancelled" || cancelled.cancelled_by !== "citizen") {
  fail(`cancel answered ${cancelled.status} by ${cancelled.cancelled_by}`);
}

const opened = expect(
  "document request",
  201,
  await api.POST("/api/v1/document-requests", {
    body: {
      office_id: office.id,
      service_id: birth.id,
      applicant: { full_name: "Ольга Сафарова", date_of_birth: "1991-07-15" },
    },
  }),
);
const tracked = expect(
  "track",
  200,
  await api.GET("/api/v1/track/{tracking_number}", {
    params: { path: { tracking_number: opened.tracking_number }, query: { date_of_birth: "1991-07-15" } },
  }),
);
if (tracked.status !== "submitted" || opened.history.length !== 1) fail(`tracked as ${tracked.status}`);

// A range ending before it starts: a 422 read as a Problem with its code.
const refused = await api.GET("/api/v1/offices/{id}/availability", {
  params: { path: { id: office.id }, query: { service_id: attorney.id, from: day(0), to: day(-1) } },
});
if (refused.response.status !== 422) fail(`expected 422, got ${refused.response.status}`);
const problem: Problem | undefined = refused.error;
if (problem?.code !== "invalid_range") fail(`422 with code ${problem?.code}`);

console.log(`typescript client: flow passed (booked ${booked.reference}, tracked ${tracked.tracking_number})`);
