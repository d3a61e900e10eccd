/**
 * Every DOM selector of the VS Code workbench the workbench suite uses, in one place. They are
 * VS Code internals (code-server 4.139.1 = VS Code 1.139.1, pinned in
 * scripts/workbench/app/package.json): after an upgrade, fix them here and nowhere else.
 * Selectors of our own run view (inside the webview) are ours and stable; they are here too so
 * a scenario file holds no selector at all.
 */
export const WB = {
  /** The workbench has rendered. */
  workbench: '.monaco-workbench',
  /** Quick input (command palette, quick picks, input boxes). */
  quickInput: '.quick-input-widget',
  quickInputBox: '.quick-input-widget .quick-input-box input:visible',
  quickInputRows: '.quick-input-widget .quick-input-list .monaco-list-row',
  /** Status bar entries (ours is found by its text). */
  statusItem: '.statusbar-item',
  statusLanguage: '#status\\.editor\\.mode',
  statusSelection: '#status\\.editor\\.selection',
  /** Notification toasts and their message text. */
  toast: '.notifications-toasts .notification-toast',
  toastMessage: '.notification-list-item-message',
  toastButton: '.notification-list-item-buttons-container .monaco-button',
  /** Progress notification (a toast with a progress bar) and its cancel action. */
  toastCancel: '.notification-list-item-toolbar-container .codicon-notifications-clear, .notification-list-item-buttons-container .monaco-button',
  /** The side bar's title ("Explorer"): a neutral spot to click so keys reach the workbench. */
  sidebarTitle: '.part.sidebar .composite.title .title-label',
  /** Explorer rows (find one by its aria-label, the file name). */
  explorerRow: '.explorer-folders-view .monaco-list-row',
  /** A context menu (code-server draws its own). */
  contextMenuItem: '.context-view .monaco-menu .action-item .action-label',
  /** The active text editor. */
  editor: '.editor-instance .monaco-editor',
  editorLines: '.editor-instance .monaco-editor .view-lines',
  activeLineNumber: '.editor-instance .monaco-editor .margin-view-overlays .line-numbers.active-line-number',
  editorCurrentLine: '.editor-instance .monaco-editor .view-overlays .current-line',
  codeLens: '.editor-instance .monaco-editor .codelens-decoration',
  hover: '.monaco-hover .hover-contents, .monaco-hover .rendered-markdown',
  /**
   * A link in a hover's Markdown (VS Code keeps the target in data-href; find one by its title).
   * Not `${hover} a`: `hover` is a selector list, so that would also match whole `.hover-contents`
   * blocks, and a click in the middle of one lands on no link (what hid #10's working links).
   */
  hoverLink: '.monaco-hover .rendered-markdown a[data-href]',
  /** Output panel text. */
  outputView: '.output-view .view-lines, .panel .output .view-lines',
  /** The panel (Problems, Output, Terminal) below the editors. */
  panel: '.part.panel',
  /** Problems panel rows. */
  problemsRow: '.markers-panel .monaco-list-row',
  /** Editor tabs (title = tab label). */
  tab: '.tabs-container .tab',
  /** Webview: the outer iframe VS Code creates, and the inner one holding our page. */
  webviewOuter: 'iframe.webview.ready',
  webviewInner: 'iframe#active-frame',
  /** Runs tree rows in the Explorer's "VALOR Runs" view. */
  runsViewRow: '.pane-body .monaco-list-row',
  paneHeader: '.pane-header',
  /** The first-run trust dialog (restricted mode) and the banner. */
  dialogButton: '.monaco-dialog-box .dialog-buttons .monaco-button',
  restrictedBanner: '.workspace-trust-banner, .statusbar-item#status\\.workspaceTrust',
} as const;

/** Our run view's own elements (webview/app.ts and webview/panels/). */
export const VIEW = {
  /** The error area's Fix with the model… button (webview/panels/answer.ts). */
  fixWithModel: '.answer-error button.fix-with-model',
  app: '#app',
  stageImage: '.stage-image',
  call: 'li.call',
  callLine: '.call-line',
  answer: '.answer-value, .answer-error',
  gbox: 'li.gbox',
  flip: 'button.flip',
  answerText: '.answer-text',
  /** A detection call's box-threshold slider, its answer bands, the answer and box count at its position (webview/panels/thresholdSlider.ts). */
  thresholdSlider: 'input.threshold',
  thresholdBand: '.threshold-bands .band',
  thresholdAnswer: '.threshold-answer',
  thresholdCount: '.threshold-count',
} as const;

/** Our review queue view's own elements (webview/review/app.ts). */
export const REVIEW = {
  app: '.app',
  progress: '.rv-progress',
  verdict: '.rv-verdict',
  agreement: '.rv-agreement',
  agreementRow: '.rv-agreement tr',
} as const;
