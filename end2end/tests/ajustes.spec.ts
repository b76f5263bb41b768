import { expect, test } from "@playwright/test";
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
