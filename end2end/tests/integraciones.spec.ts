import { createHmac } from "node:crypto";
import { type Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { hydrated, signIn } from "./helpers";

const SECRET = "e2e-whatsapp-secret"; // scripts/e2e-server.sh

async function deliver(page: Page, body: string) {
  const signature = "sha256=" + createHmac("sha256", SECRET).update(body).digest("hex");
  const response = await page.request.post("/webhooks/whatsapp", {
    data: Buffer.from(body),
    headers: { "content-type": "application/json", "x-hub-signature-256": signature },
  });
  expect(response.status()).toBe(200);
}

function message(wamid: string, from: string) {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "1", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      contacts: [{ profile: { name: "Paciente E2E" }, wa_id: from }],
      messages: [{ from, id: wamid, timestamp: "1749416383", type: "text", text: { body: "Hola" } }],
    } }] }],
  });
}

/** Ids of the failed WhatsApp deliveries, newest first (the page's own server function). */
async function failedDeliveries(page: Page): Promise<number[]> {
  const response = await page.request.post("/sfn/webhook_events", { form: { provider: "whatsapp", status: "failed" } });
  expect(response.status()).toBe(200);
  return (await response.json()).map((event: { id: number }) => event.id);
}

test("on-call sees deliveries and queues, reads a payload, replays and retries", async ({ page }) => {
  const run = `${test.info().project.name}-${Date.now()}`;
  const phone = test.info().project.name === "laptop" ? "34699000001" : "34699000002";
  await signIn(page, "/integraciones");
  const before = (await failedDeliveries(page)).length;
  await deliver(page, message(`wamid.e2e.${run}`, phone));
  await deliver(page, `{ "broken": ${run}`);

  // The server's own worker processes them; the broken one ends failed, as the newest failure.
  await expect.poll(async () => (await failedDeliveries(page)).length, { timeout: 15_000 }).toBe(before + 1);
  const id = String((await failedDeliveries(page))[0]);
  await page.reload();
  await hydrated(page);

  const queues = page.getByRole("table", { name: "Colas de trabajo" });
  await expect(queues.getByRole("row", { name: /inbound/ })).toContainText("Activa");

  // Filter through the URL.
  await page.getByLabel("Proveedor", { exact: true }).selectOption("whatsapp");
  await page.getByLabel("Estado").selectOption("failed");
  await page.getByRole("button", { name: "Filtrar" }).click();
  await expect(page).toHaveURL(/provider=whatsapp&status=failed/);
  const events = page.getByRole("table", { name: "Webhooks recibidos" });
  const rows = events.getByRole("row").filter({ hasText: "Fallido" });
  await expect(rows.first()).toBeVisible();
  await expect(events.getByRole("row").filter({ hasText: "Procesado" })).toHaveCount(0);

  // The raw payload of this run's failed delivery.
  const newest = events.getByRole("row").filter({ has: page.getByRole("cell", { name: `#${id}`, exact: true }) });
  await newest.getByRole("link", { name: `Ver el webhook ${id}` }).click();
  await expect(page).toHaveURL(new RegExp(`provider=whatsapp&status=failed&ver=${id}`));
  await expect(page.getByRole("region", { name: `Contenido del webhook ${id}` })).toContainText(`{ "broken": ${run}`);

  // Replay it: processed once more (one more attempt), still failing with its parse error.
  const attempts = newest.getByRole("cell").nth(5);
  const attemptsBefore = Number(await attempts.textContent());
  await newest.getByRole("button", { name: `Reprocesar el webhook ${id}` }).click();
  await expect(attempts).toHaveText(String(attemptsBefore + 1));
  await expect(newest).toContainText("Fallido");
  await expect(newest).toContainText("not a WhatsApp webhook payload");

  // Retry a failed job: it leaves the list of failed jobs.
  const failedJobs = page.getByRole("table", { name: "Trabajos fallidos" });
  const retry = failedJobs.getByRole("button", { name: /^Reintentar el trabajo/ }).first();
  const label = (await retry.getAttribute("aria-label"))!;
  await retry.click();
  await expect(page.getByRole("button", { name: label, exact: true })).toHaveCount(0);
});
