import { expect, test } from "./fixtures";
import { hydrated, signIn } from "./helpers";

test("an admin creates an API token, sees it once, uses it and revokes it", async ({ page }) => {
  await signIn(page, "/ajustes");
  await hydrated(page);
  const name = `Panel ${test.info().project.name}`;
  await page.getByLabel("Nombre del token").fill(name);
  await page.getByRole("button", { name: "Crear token" }).click();

  const secret = page.getByLabel("Nuevo token");
  await expect(secret).toHaveText(/^mcrm_[0-9a-f]{64}$/);
  const token = (await secret.textContent())!.trim();
  const row = page.getByRole("row").filter({ hasText: name });
  await expect(row).toContainText("Activo");
  await expect(row).toContainText("Nunca");

  const api = (t: string) =>
    page.request.get("/api/reports/kpis", { headers: { Authorization: `Bearer ${t}` } });
  expect((await api(token)).status()).toBe(200);

  await row.getByRole("button", { name: `Revocar ${name}` }).click();
  await expect(row).toContainText("Revocado el");
  expect((await api(token)).status()).toBe(401);

  await page.reload();
  await expect(page.getByLabel("Nuevo token")).toHaveCount(0);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test("an admin steers the flags and the backup phone; Integraciones and the lead page follow", async ({ page }) => {
  await signIn(page, "/ajustes");
  const form = page.getByRole("form", { name: "Ajustes de integraciones" });
  const save = async () => {
    await form.getByRole("button", { name: "Guardar ajustes" }).click();
    await page.waitForLoadState("load");
  };
  await form.getByLabel("Envío de WhatsApp").selectOption({ label: "Desactivado" });
  await form.getByLabel("Llamadas desde la ficha (Aircall)").selectOption({ label: "Desactivado" });
  await form.getByLabel("Sincronización con HubSpot").selectOption("deferred");
  await form.getByLabel("Teléfono de respaldo de la clínica").fill("910 00 00 00");
  await form.getByLabel("Pausar la cola de Aircall").check();
  await save();

  // Saved: the form shows it after the round trip.
  await expect(form.getByLabel("Envío de WhatsApp")).toHaveValue("off");
  await expect(form.getByLabel("Llamadas desde la ficha (Aircall)")).toHaveValue("off");
  await expect(form.getByLabel("Sincronización con HubSpot")).toHaveValue("deferred");
  await expect(form.getByLabel("Teléfono de respaldo de la clínica")).toHaveValue("+34910000000");
  await expect(form.getByLabel("Pausar la cola de Aircall")).toBeChecked();

  // A bad backup phone is refused in Spanish and changes nothing.
  await form.getByLabel("Teléfono de respaldo de la clínica").fill("12");
  await save();
  await expect(page.getByText("El teléfono de respaldo no es válido.")).toBeVisible();
  await expect(form.getByLabel("Teléfono de respaldo de la clínica")).toHaveValue("+34910000000");

  // Integraciones: every provider up, each held queue with its reason.
  await page.goto("/integraciones");
  const providers = page.getByRole("table", { name: "Proveedores" });
  for (const provider of ["whatsapp", "aircall", "hubspot"]) {
    await expect(providers.getByRole("row", { name: new RegExp(provider) })).toContainText("Operativo");
  }
  const queues = page.getByRole("table", { name: "Colas de trabajo" });
  await expect(queues.getByRole("row", { name: /whatsapp/ })).toContainText("Envío de WhatsApp desactivado");
  await expect(queues.getByRole("row", { name: /aircall/ })).toContainText("En pausa");
  await expect(queues.getByRole("row", { name: /hubspot/ })).toContainText("Sincronización con HubSpot diferida");
  await expect(queues.getByRole("row", { name: /inbound/ })).toContainText("Activa");

  // A lead's page: telephony degraded, the backup number instead of the call button.
  await page.goto("/leads");
  await page.getByRole("table", { name: "Leads" }).getByRole("rowheader").first().getByRole("link").click();
  const call = page.getByRole("region", { name: "Llamar" });
  await expect(call).toContainText("+34910000000");
  await expect(call.getByRole("button", { name: "Llamar" })).toHaveCount(0);

  // Back to the defaults.
  await page.goto("/ajustes");
  await form.getByLabel("Envío de WhatsApp").selectOption({ label: "Activado" });
  await form.getByLabel("Llamadas desde la ficha (Aircall)").selectOption({ label: "Activado" });
  await form.getByLabel("Sincronización con HubSpot").selectOption("live");
  await form.getByLabel("Teléfono de respaldo de la clínica").fill("");
  await form.getByLabel("Pausar la cola de Aircall").uncheck();
  await save();
  await expect(form.getByLabel("Envío de WhatsApp")).toHaveValue("on");
  await page.goto("/integraciones");
  await expect(queues.getByRole("row", { name: /aircall/ })).toContainText("Activa");
});
