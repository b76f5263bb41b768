import { expect, test } from "./fixtures";
import { ADMIN, hydrated, signIn } from "./helpers";

const MENU = ["Informes", "Leads", "Integraciones", "Ajustes"] as const;

test("an anonymous visitor is sent to the login page", async ({ page }) => {
  await page.goto("/leads");
  await expect(page).toHaveURL(/\/login\?next=%2Fleads$/);
  await expect(page.getByRole("heading", { name: "Iniciar sesión" })).toBeVisible();
});

test("a wrong password is refused in Spanish", async ({ page }) => {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Correo electrónico").fill(ADMIN.email);
  await page.getByLabel("Contraseña").fill("not-the-password");
  await page.getByRole("button", { name: "Entrar" }).click();
  await expect(page.getByRole("alert")).toHaveText("El correo o la contraseña no son correctos.");
  await expect(page).toHaveURL(/\/login/);
});

test("sign in, open every menu entry, and sign out", async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/informes$/);
  await expect(page.getByRole("heading", { level: 1, name: "Informes" })).toBeVisible();
  await expect(page.locator("header").getByText(ADMIN.name)).toBeVisible();

  const menu = page.getByRole("navigation", { name: "Menú principal" });
  for (const entry of MENU) {
    await menu.getByRole("link", { name: entry }).click();
    await expect(page).toHaveURL(new RegExp(`/${entry.toLowerCase()}$`));
    await expect(page.getByRole("heading", { level: 1, name: entry })).toBeVisible();
    await expect(menu.getByRole("link", { name: entry })).toHaveAttribute("aria-current", "page");
  }

  await page.getByRole("button", { name: "Salir" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/ajustes");
  await expect(page).toHaveURL(/\/login\?next=%2Fajustes$/);
});

test("signing in returns to the page that was asked for", async ({ page }) => {
  await page.goto("/integraciones");
  await expect(page).toHaveURL(/\/login\?next=%2Fintegraciones$/);
  await hydrated(page);
  await page.getByLabel("Correo electrónico").fill(ADMIN.email);
  await page.getByLabel("Contraseña").fill(ADMIN.password);
  await page.getByRole("button", { name: "Entrar" }).click();
  await expect(page).toHaveURL(/\/integraciones$/);
  await expect(page.getByRole("heading", { level: 1, name: "Integraciones" })).toBeVisible();
});

test("the shell fits the screen without sideways scrolling", async ({ page }) => {
  await signIn(page);
  await expect(page.getByRole("heading", { level: 1, name: "Informes" })).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const menu = page.getByRole("navigation", { name: "Menú principal" });
  for (const entry of MENU) {
    await expect(menu.getByRole("link", { name: entry })).toBeInViewport({ ratio: 1 });
  }
  await expect(page.getByRole("button", { name: "Salir" })).toBeInViewport({ ratio: 1 });
});
