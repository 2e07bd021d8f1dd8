"""Fixtures of the dashboard's browser tests: one Chromium per module (launched as Debian's
chromium, sandbox off), and pages per test whose JavaScript errors fail the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.acceptance.dashboard_kit import ARGS, CHROMIUM, DESKTOP


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class Pages:
    """Opens pages with a viewport and colour scheme; closes them and checks for JS errors."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def open(self, viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = await self.browser.new_context(viewport=viewport, locale="en-US", **options)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # what the page's Content-Security-Policy refused is an error of the dashboard's too
        page.on("console", self._refused)
        return page

    def _refused(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    try:
        yield opened
    finally:
        await opened.close()
    assert not opened.errors, f"JavaScript errors on the page: {opened.errors}"


@pytest_asyncio.fixture(loop_scope="module")
async def page(pages: Pages) -> Page:
    return await pages.open()
