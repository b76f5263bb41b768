import { type Page } from "@playwright/test";
import { expect, test } from "./fixtures";
import { hydrated, signIn } from "./helpers";

type Day = {
  date: string;
  leads: number;
  appointments: number;
  attended: number;
  no_show: number;
  cancelled: number;
  treatments: number;
  sessions_completed: number;
};
type Report = {
  filters: { source: string | null; as_of: string };
  totals: Record<string, number>;
  counts: Record<string, number>;
  series_7d: Day[];
};

const FILTERS = [
  { label: "Todas", source: null },
  { label: "Google", source: "google" },
  { label: "Meta", source: "meta" },
  { label: "Orgánico", source: "organic" },
] as const;

const count = (n: number) => (n >= 10000 ? n.toLocaleString("es-ES") : String(n));
const percent = (rate: number) => `${Math.round(rate * 100)}\u00a0%`;

async function apiReport(page: Page, source: string | null): Promise<Report> {
  const response = await page.request.get(`/api/reports/kpis${source ? `?source=${source}` : ""}`);
  expect(response.status()).toBe(200);
  return response.json();
}

function card(page: Page, name: string) {
  return page.getByRole("article", { name, exact: true });
}

async function expectCardsToShow(page: Page, report: Report) {
  const { totals, counts } = report;
  const outcomes = counts.attended_7d + counts.no_show_7d + counts.cancelled_7d;
  await expect(card(page, "Leads 24 h").locator(".value")).toHaveText(count(totals.leads_24h));
  await expect(card(page, "Leads 7 días").locator(".value")).toHaveText(count(totals.leads_7d));
  await expect(card(page, "Tasa de cita").locator(".value")).toHaveText(percent(totals.appointment_rate_7d));
  await expect(card(page, "Tasa de cita").locator(".detail")).toHaveText(
    `${count(counts.leads_with_appointment_7d)} de ${count(totals.leads_7d)} leads`,
  );
  await expect(card(page, "Asistencia").locator(".value")).toHaveText(percent(totals.attendance_rate_7d));
  await expect(card(page, "Asistencia").locator(".detail")).toHaveText(`${count(counts.attended_7d)} de ${count(outcomes)} citas`);
  await expect(card(page, "Conversión").locator(".value")).toHaveText(percent(totals.conversion_rate_7d));
  await expect(card(page, "No presentados").locator(".value")).toHaveText(percent(totals.no_show_rate_7d));
  await expect(card(page, "Tratamientos completados").locator(".value")).toHaveText(count(totals.sessions_completed_7d));
}

/** The data of every series of every chart, read from the ECharts instances. */
async function chartData(page: Page): Promise<number[][][]> {
  return page.evaluate(() =>
    ["chart-leads", "chart-outcomes", "chart-sales"].map((id) => {
      const chart = (window as any).echarts.getInstanceByDom(document.getElementById(id));
      return chart ? chart.getOption().series.map((s: { data: number[] }) => s.data) : [];
    }),
  );
}

function expectedChartData(report: Report): number[][][] {
  const col = (pick: (d: Day) => number) => report.series_7d.map(pick);
  return [
    [col((d) => d.leads)],
    [col((d) => d.attended), col((d) => d.no_show), col((d) => d.cancelled)],
    [col((d) => d.treatments), col((d) => d.sessions_completed)],
  ];
}

test("the server-rendered page already carries the numbers", async ({ page }) => {
  await signIn(page);
  const report = await apiReport(page, null);
  const html = await (await page.request.get("/informes")).text();
  expect(html).toContain(`data-kpi="leads_7d"`);
  expect(html).toContain(`>${count(report.totals.leads_7d)}<`);
});

test("cards and charts match the API for every filter, without reloading the page", async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(/\/informes$/);
  await hydrated(page);
  // A full navigation would drop this mark.
  await page.evaluate(() => ((window as any).__sameDocument = true));
  const filter = page.getByRole("navigation", { name: "Filtrar por origen" });

  for (const { label, source } of [...FILTERS.slice(1), FILTERS[0]]) {
    await filter.getByRole("link", { name: label, exact: true }).click();
    await expect(page).toHaveURL(source ? new RegExp(`/informes\\?source=${source}$`) : /\/informes$/);
    await expect(filter.getByRole("link", { name: label, exact: true })).toHaveAttribute("aria-current", "true");
    const report = await apiReport(page, source);
    expect(report.filters.source).toBe(source);
    await expectCardsToShow(page, report);
    await expect.poll(() => chartData(page)).toEqual(expectedChartData(report));
    expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  }
});

test("a reload or a shared link keeps the filter", async ({ page }) => {
  await signIn(page, "/informes?source=meta");
  await expect(page).toHaveURL(/\/informes\?source=meta$/);
  await page.reload();
  await hydrated(page);
  const filter = page.getByRole("navigation", { name: "Filtrar por origen" });
  await expect(filter.getByRole("link", { name: "Meta", exact: true })).toHaveAttribute("aria-current", "true");
  const report = await apiReport(page, "meta");
  await expectCardsToShow(page, report);
  await expect.poll(() => chartData(page)).toEqual(expectedChartData(report));
});

test("API JSON opens the report of the current filter", async ({ page }) => {
  await signIn(page, "/informes?source=google");
  await hydrated(page);
  const popupPromise = page.waitForEvent("popup");
  await page.getByRole("link", { name: "API JSON" }).click();
  const popup = await popupPromise;
  await popup.waitForLoadState();
  expect(popup.url()).toMatch(/\/api\/reports\/kpis\?source=google$/);
  const json = JSON.parse((await popup.locator("body").innerText()).trim());
  expect(json.filters.source).toBe("google");
  expect(json.series_7d).toHaveLength(7);
});
