import { expect, test as base } from "@playwright/test";

/**
 * Every test's page under watch: a Content Security Policy violation (a script or style the
 * policy refused: something would silently not work) or a dialog (`alert` from an injected
 * script) fails the test that caused it.
 */
export const test = base.extend<{ watched: void }>({
  watched: [
    async ({ page }, use) => {
      const violations: string[] = [];
      const dialogs: string[] = [];
      page.on("console", (message) => {
        if (message.text().includes("Content Security Policy")) violations.push(message.text());
      });
      page.on("dialog", async (dialog) => {
        dialogs.push(`${dialog.type()}: ${dialog.message()}`);
        await dialog.dismiss();
      });
      await use();
      expect(violations, "no CSP violation").toEqual([]);
      expect(dialogs, "no dialog").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
